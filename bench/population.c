/*
 * population.c - a bounded, loopback-only socket population for portwarden's benchmarks.
 *
 * One parent forks P small children (copy-on-write, a few hundred KiB each). Every child holds
 *   - L TCP listeners (on 127.10.x.y, every K-th on [::1]),
 *   - its share of U UDP sockets (on 127.20.x.y, every K-th on [::1]),
 *   - its share of E established TCP pairs (client and accepted end, both in the child),
 *   - N non-socket fds (pipes, /dev/null), like a real daemon's logs and pipes,
 * and three children hold the query ports (TCP 127.0.0.1, TCP [::1], UDP 127.0.0.1) that
 * the benchmark asks about. Only loopback addresses (127.0.0.0/8, ::1) are ever used.
 *
 * When every child is up the parent prints one line to stdout:
 *   READY {"parent_pid":..,"pids":[..],"query":{..},"actual":{..},...}
 * and then waits until --ttl seconds have passed, or SIGTERM/SIGINT/SIGHUP, or (with
 * --stdin-eof) until its stdin closes. It then signals exactly the pids it forked (SIGTERM, then
 * SIGKILL after 2 s), reaps them and exits. Children also die on their own: PR_SET_PDEATHSIG
 * (SIGKILL when the parent goes) and alarm(ttl + 30).
 *
 * Build: cc -O2 -Wall -o bench/.work/population bench/population.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS 30000L
#define MAX_PER_PROC 200000L

struct opts {
  long procs, listeners, udp, established, extra_fds, ttl, v6_every, port_base, port_span,
      query_base, setup_timeout;
  int stdin_eof;
};

/* One fixed-size record per child on the ready pipe (well under PIPE_BUF: atomic). */
struct record {
  int32_t index, pid, err, stage;
  int32_t listeners, udp, pairs, fallback;
  int32_t qport[3];
};

enum { STAGE_OK = 0, STAGE_LISTEN, STAGE_UDP, STAGE_PAIR, STAGE_QUERY, STAGE_FDS };
static const char *stage_name[] = {"ok", "tcp listener", "udp socket", "established pair",
                                   "query port", "extra fds"};

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *msg) {
  fprintf(stderr, "population: %s\n", msg);
  exit(2);
}

static long num_arg(const char *name, const char *s, long lo, long hi) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *s == '\0' || *end != '\0' || v < lo || v > hi) {
    fprintf(stderr, "population: --%s must be an integer from %ld to %ld, got '%s'\n", name, lo,
            hi, s);
    exit(2);
  }
  return v;
}

/* This child's share of a total spread over n children: [first, first + count). */
static void share(long total, long n, long i, long *first, long *count) {
  long base = total / n, extra = total % n;
  *count = base + (i < extra ? 1 : 0);
  *first = i * base + (i < extra ? i : extra);
}

static int set_reuse_linger(int fd, int linger0) {
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) return -1;
  if (linger0) {
    /* close() sends RST: no TIME_WAIT left behind after teardown. */
    struct linger lg = {1, 0};
    if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) < 0) return -1;
  }
  return 0;
}

/* Bind a socket of `type` on IPv4 `host` (host byte order) or ::1, at `port`; if that port is
 * taken, fall back to a kernel-chosen port (counted in *fallback). Returns the fd, -1 on error.
 * The bound port goes to *bound. */
static int bind_socket(int type, int v6, uint32_t host, int port, int *fallback, int *bound) {
  int fd = socket(v6 ? AF_INET6 : AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (set_reuse_linger(fd, 0) < 0) goto fail;
  if (v6) {
    int one = 1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  for (int attempt = 0; attempt < 2; attempt++) {
    int p = attempt == 0 ? port : 0;
    int rc;
    if (v6) {
      struct sockaddr_in6 a = {0};
      a.sin6_family = AF_INET6;
      a.sin6_addr = in6addr_loopback;
      a.sin6_port = htons(p);
      rc = bind(fd, (struct sockaddr *)&a, sizeof a);
    } else {
      struct sockaddr_in a = {0};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(host);
      a.sin_port = htons(p);
      rc = bind(fd, (struct sockaddr *)&a, sizeof a);
    }
    if (rc == 0) break;
    if (errno != EADDRINUSE || attempt == 1) goto fail;
    (*fallback)++;
  }
  if (type == SOCK_STREAM && listen(fd, 128) < 0) goto fail;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) goto fail;
  *bound = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
  return fd;
fail:;
  int e = errno;
  close(fd);
  errno = e;
  return -1;
}

/* Address/port of the v4 or v6 slot number `seq` in a range: port base + seq % span on
 * 127.<net>.x.y, where x.y counts up every `span` slots. */
static uint32_t v4_host(int net, long seq, long span) {
  long a = seq / span + 1;
  return (127u << 24) | ((uint32_t)net << 16) | (uint32_t)(a & 0xffff);
}

static void child_main(const struct opts *o, long index, int wfd) {
  struct record r = {0};
  r.index = (int32_t)index;
  r.pid = (int32_t)getpid();
  int fallback = 0, bound = 0;
  int first_v4_listener = -1;
  uint32_t first_v4_host = 0;
  int first_v4_port = 0;

  /* TCP listeners: global slot g = index * L + j. Every v6_every-th slot is on ::1. */
  for (long j = 0; j < o->listeners; j++) {
    long g = index * o->listeners + j;
    int v6 = o->v6_every > 0 && g % o->v6_every == o->v6_every - 1;
    int fd;
    if (v6) {
      long k = g / o->v6_every;
      fd = bind_socket(SOCK_STREAM, 1, 0, (int)(o->port_base + k % o->port_span), &fallback, &bound);
    } else {
      uint32_t h = v4_host(10, g, o->port_span);
      fd = bind_socket(SOCK_STREAM, 0, h, (int)(o->port_base + g % o->port_span), &fallback, &bound);
      if (fd >= 0 && first_v4_listener < 0) {
        first_v4_listener = fd;
        first_v4_host = h;
        first_v4_port = bound;
      }
    }
    if (fd < 0) { r.stage = STAGE_LISTEN; goto failed; }
    r.listeners++;
  }

  /* UDP sockets: this child's share of U. */
  long ufirst, ucount;
  share(o->udp, o->procs, index, &ufirst, &ucount);
  for (long j = 0; j < ucount; j++) {
    long u = ufirst + j;
    int v6 = o->v6_every > 0 && u % o->v6_every == o->v6_every - 1;
    int fd;
    if (v6) {
      long k = u / o->v6_every;
      fd = bind_socket(SOCK_DGRAM, 1, 0, (int)(o->port_base + k % o->port_span), &fallback, &bound);
    } else {
      fd = bind_socket(SOCK_DGRAM, 0, v4_host(20, u, o->port_span),
                       (int)(o->port_base + u % o->port_span), &fallback, &bound);
    }
    if (fd < 0) { r.stage = STAGE_UDP; goto failed; }
    r.udp++;
  }

  /* Established pairs: connect to our first v4 listener (or a private one) and accept. */
  long efirst, ecount;
  share(o->established, o->procs, index, &efirst, &ecount);
  if (ecount > 0 && first_v4_listener < 0) {
    first_v4_host = v4_host(30, index, o->port_span);
    first_v4_listener = bind_socket(SOCK_STREAM, 0, first_v4_host, 0, &fallback, &first_v4_port);
    if (first_v4_listener < 0) { r.stage = STAGE_PAIR; goto failed; }
  }
  for (long j = 0; j < ecount; j++) {
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c < 0 || set_reuse_linger(c, 1) < 0) { r.stage = STAGE_PAIR; goto failed; }
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(first_v4_host);
    a.sin_port = htons(first_v4_port);
    if (connect(c, (struct sockaddr *)&a, sizeof a) < 0) { r.stage = STAGE_PAIR; goto failed; }
    int s = accept4(first_v4_listener, NULL, NULL, SOCK_CLOEXEC);
    if (s < 0 || set_reuse_linger(s, 1) < 0) { r.stage = STAGE_PAIR; goto failed; }
    r.pairs++;
  }

  /* Query ports: TCP 127.0.0.1 (middle child), TCP ::1 (last child), UDP 127.0.0.1 (first). */
  static const int qtype[3] = {SOCK_STREAM, SOCK_STREAM, SOCK_DGRAM};
  static const int qv6[3] = {0, 1, 0};
  long qowner[3] = {o->procs / 2, o->procs - 1, 0};
  for (int q = 0; q < 3; q++) {
    if (qowner[q] != index) continue;
    int qb = 0;
    int fd = bind_socket(qtype[q], qv6[q], INADDR_LOOPBACK, (int)(o->query_base + q), &fallback, &qb);
    if (fd < 0) { r.stage = STAGE_QUERY; goto failed; }
    r.qport[q] = qb;
  }

  /* Non-socket fds: pipes and /dev/null, like logs, pipes and event fds of a real process. */
  for (long j = 0; j < o->extra_fds;) {
    if (j + 1 < o->extra_fds && j % 3 == 0) {
      int p[2];
      if (pipe2(p, O_CLOEXEC) < 0) { r.stage = STAGE_FDS; goto failed; }
      j += 2;
    } else {
      if (open("/dev/null", O_RDONLY | O_CLOEXEC) < 0) { r.stage = STAGE_FDS; goto failed; }
      j += 1;
    }
  }

  r.fallback = fallback;
  r.err = 0;
  if (write(wfd, &r, sizeof r) != (ssize_t)sizeof r) _exit(1);
  close(wfd);
  for (;;) pause(); /* until SIGTERM/SIGKILL from the parent, PDEATHSIG, or alarm */

failed:
  r.err = errno ? errno : EIO;
  if (write(wfd, &r, sizeof r) < 0) _exit(1);
  _exit(1);
}

/* pids[i] > 0: our child, not yet reaped (so its pid cannot have been reused); 0: reaped. */
static pid_t *pids;
static long nforked, nreaped;

static void mark_reaped(pid_t p) {
  for (long i = 0; i < nforked; i++)
    if (pids[i] == p) {
      pids[i] = 0;
      nreaped++;
      return;
    }
}

static void reap(int flags) {
  pid_t p;
  while ((p = waitpid(-1, NULL, flags)) > 0) {
    mark_reaped(p);
    if (!(flags & WNOHANG)) return;
  }
}

/* Signal exactly the children we forked and have not reaped, then reap them (bounded). */
static void cleanup_children(void) {
  for (long i = 0; i < nforked; i++)
    if (pids[i] > 0) kill(pids[i], SIGTERM);
  double deadline = now_ms() + 2000;
  while (nreaped < nforked && now_ms() < deadline) {
    reap(WNOHANG);
    if (nreaped < nforked) usleep(5000);
  }
  if (nreaped < nforked) {
    for (long i = 0; i < nforked; i++)
      if (pids[i] > 0) kill(pids[i], SIGKILL);
    for (long guard = 0; guard < nforked + 10 && nreaped < nforked; guard++) reap(0);
  }
}

static void usage(void) {
  fprintf(stderr,
          "usage: population [--procs P] [--listeners L] [--udp U] [--established E]\n"
          "                  [--extra-fds N] [--ttl SECONDS] [--v6-every K] [--port-base B]\n"
          "                  [--port-span S] [--query-base Q] [--setup-timeout SECONDS]\n"
          "                  [--stdin-eof]\n");
  exit(2);
}

int main(int argc, char **argv) {
  struct opts o = {.procs = 50, .listeners = 2, .udp = 40, .established = 25, .extra_fds = 10,
                   .ttl = 600, .v6_every = 10, .port_base = 10000, .port_span = 22000,
                   .query_base = 9301, .setup_timeout = 300, .stdin_eof = 0};
  static struct option lopts[] = {
      {"procs", 1, 0, 'p'},      {"listeners", 1, 0, 'l'},  {"udp", 1, 0, 'u'},
      {"established", 1, 0, 'e'}, {"extra-fds", 1, 0, 'x'}, {"ttl", 1, 0, 't'},
      {"v6-every", 1, 0, '6'},   {"port-base", 1, 0, 'b'},  {"port-span", 1, 0, 's'},
      {"query-base", 1, 0, 'q'}, {"setup-timeout", 1, 0, 'T'}, {"stdin-eof", 0, 0, 'i'},
      {"help", 0, 0, 'h'},       {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
    switch (c) {
    case 'p': o.procs = num_arg("procs", optarg, 1, MAX_PROCS); break;
    case 'l': o.listeners = num_arg("listeners", optarg, 0, MAX_PER_PROC); break;
    case 'u': o.udp = num_arg("udp", optarg, 0, 2000000); break;
    case 'e': o.established = num_arg("established", optarg, 0, 1000000); break;
    case 'x': o.extra_fds = num_arg("extra-fds", optarg, 0, 10000); break;
    case 't': o.ttl = num_arg("ttl", optarg, 1, 86400); break;
    case '6': o.v6_every = num_arg("v6-every", optarg, 0, 1000000); break;
    case 'b': o.port_base = num_arg("port-base", optarg, 1024, 65000); break;
    case 's': o.port_span = num_arg("port-span", optarg, 1, 64000); break;
    case 'q': o.query_base = num_arg("query-base", optarg, 1024, 65530); break;
    case 'T': o.setup_timeout = num_arg("setup-timeout", optarg, 1, 3600); break;
    case 'i': o.stdin_eof = 1; break;
    default: usage();
    }
  }
  if (optind != argc) usage();
  if (o.port_base + o.port_span > 65536) die("--port-base + --port-span must stay below 65536");

  /* fds a child needs: stdio + sockets + pipe + extra fds + slack. Raise the limit if needed. */
  long per_child = 3 + o.listeners + o.udp / o.procs + 1 + 2 * (o.established / o.procs + 1) + 3 +
                   o.extra_fds + 2 + 64;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && (rlim_t)per_child > rl.rlim_cur) {
    if ((rlim_t)per_child > rl.rlim_max) rl.rlim_max = per_child; /* needs root */
    rl.rlim_cur = per_child;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) die("cannot raise RLIMIT_NOFILE (need root?)");
  }

  /* Drop fds inherited from whoever started us (keep stdio): children hold only their own. */
#ifdef SYS_close_range
  if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0)
#endif
    for (int fd = 3; fd < 65536; fd++) close(fd);

  pid_t parent_pid = getpid();
  prctl(PR_SET_PDEATHSIG, SIGTERM); /* our launcher went away: clean up */

  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGPIPE);
  sigprocmask(SIG_BLOCK, &set, &old);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC);
  if (sfd < 0) die("signalfd failed");

  int rp[2];
  if (pipe2(rp, O_CLOEXEC) < 0) die("pipe failed");
  pids = calloc(o.procs, sizeof *pids);
  struct record *recs = calloc(o.procs, sizeof *recs);
  if (!pids || !recs) die("out of memory");

  double t0 = now_ms();
  int failed = 0;
  for (long i = 0; i < o.procs; i++) {
    pid_t p = fork();
    if (p < 0) {
      perror("population: fork");
      failed = 1;
      break;
    }
    if (p == 0) {
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, NULL);
      signal(SIGPIPE, SIG_DFL);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent_pid) _exit(1);
      alarm((unsigned)(o.ttl + 30));
      close(sfd);
      close(rp[0]);
      int dn = open("/dev/null", O_RDWR);
      if (dn >= 0) {
        dup2(dn, 0);
        dup2(dn, 1);
        if (dn > 2) close(dn);
      }
      child_main(&o, i, rp[1]);
      _exit(0);
    }
    pids[i] = p;
    nforked++;
  }
  close(rp[1]);

  /* Collect one record per child, bounded by --setup-timeout. */
  long got = 0;
  char *buf = (char *)recs;
  size_t want = (size_t)nforked * sizeof(struct record), have = 0;
  double setup_deadline = t0 + o.setup_timeout * 1000.0;
  int stop = 0;
  while (!failed && !stop && have < want) {
    double left = setup_deadline - now_ms();
    if (left <= 0) {
      fprintf(stderr, "population: setup did not finish within %ld s\n", o.setup_timeout);
      failed = 1;
      break;
    }
    struct pollfd pf[2] = {{rp[0], POLLIN, 0}, {sfd, POLLIN, 0}};
    int n = poll(pf, 2, left > 1000 ? 1000 : (int)left + 1);
    if (n < 0 && errno != EINTR) { failed = 1; break; }
    if (pf[1].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (read(sfd, &si, sizeof si) == sizeof si && si.ssi_signo != SIGCHLD &&
          si.ssi_signo != SIGPIPE) {
        fprintf(stderr, "population: signal %u during setup, cleaning up\n", si.ssi_signo);
        stop = 1;
      }
    }
    if (pf[0].revents & (POLLIN | POLLHUP)) {
      ssize_t k = read(rp[0], buf + have, want - have);
      if (k == 0) {
        fprintf(stderr, "population: children exited before reporting\n");
        failed = 1;
        break;
      }
      if (k > 0) have += (size_t)k;
    }
  }
  got = (long)(have / sizeof(struct record));

  long tl = 0, tu = 0, tp = 0, tf = 0;
  int qport[3] = {0, 0, 0};
  pid_t qpid[3] = {0, 0, 0};
  long qowner[3] = {o.procs / 2, o.procs - 1, 0};
  for (long k = 0; k < got; k++) {
    struct record *r = &recs[k];
    if (r->err) {
      if (!failed)
        fprintf(stderr, "population: child %d (pid %d) failed at %s: %s\n", r->index, r->pid,
                stage_name[r->stage], strerror(r->err));
      failed = 1;
      continue;
    }
    tl += r->listeners;
    tu += r->udp;
    tp += r->pairs;
    tf += r->fallback;
    for (int q = 0; q < 3; q++)
      if (r->index == qowner[q]) {
        qport[q] = r->qport[q];
        qpid[q] = r->pid;
      }
  }
  if (failed || stop) {
    cleanup_children();
    return failed ? 1 : 0;
  }

  double setup_ms = now_ms() - t0;
  printf("READY {\"parent_pid\":%d,\"ttl\":%ld,\"setup_ms\":%.0f,", parent_pid, o.ttl, setup_ms);
  printf("\"planned\":{\"procs\":%ld,\"listeners_per_proc\":%ld,\"udp\":%ld,"
         "\"established_pairs\":%ld,\"extra_fds_per_proc\":%ld},",
         o.procs, o.listeners, o.udp, o.established, o.extra_fds);
  printf("\"actual\":{\"procs\":%ld,\"tcp_listeners\":%ld,\"udp\":%ld,\"established_pairs\":%ld,"
         "\"query_sockets\":3,\"sockets\":%ld,\"fallback_ports\":%ld},",
         got, tl, tu, tp, tl + tu + 2 * tp + 3, tf);
  printf("\"query\":{\"tcp4\":{\"protocol\":\"tcp\",\"address\":\"127.0.0.1\",\"port\":%d,\"pid\":%d},"
         "\"tcp6\":{\"protocol\":\"tcp\",\"address\":\"::1\",\"port\":%d,\"pid\":%d},"
         "\"udp4\":{\"protocol\":\"udp\",\"address\":\"127.0.0.1\",\"port\":%d,\"pid\":%d}},",
         qport[0], qpid[0], qport[1], qpid[1], qport[2], qpid[2]);
  printf("\"pids\":[");
  for (long i = 0; i < nforked; i++) printf("%s%d", i ? "," : "", recs[i].pid);
  printf("]}\n");
  fflush(stdout);

  /* Hold the population until the ttl, a signal, or (with --stdin-eof) stdin closing. */
  double deadline = now_ms() + o.ttl * 1000.0;
  const char *why = "ttl reached";
  for (;;) {
    double left = deadline - now_ms();
    if (left <= 0) break;
    struct pollfd pf[2] = {{sfd, POLLIN, 0}, {o.stdin_eof ? 0 : -1, POLLIN, 0}};
    int n = poll(pf, 2, left > 1000 ? 1000 : (int)left + 1);
    if (n < 0 && errno != EINTR) { why = "poll failed"; break; }
    if (pf[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      char tmp[256];
      ssize_t k = read(0, tmp, sizeof tmp);
      if (k <= 0) { why = "stdin closed"; break; }
    }
    if (pf[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (read(sfd, &si, sizeof si) != sizeof si) continue;
      if (si.ssi_signo == SIGCHLD) {
        reap(WNOHANG);
        if (nreaped >= nforked) { why = "all children gone"; break; }
        continue;
      }
      if (si.ssi_signo == SIGPIPE) continue;
      why = strsignal((int)si.ssi_signo);
      break;
    }
  }
  cleanup_children();
  fprintf(stderr, "population: stopped (%s), %ld children cleaned up\n", why, nforked);
  return 0;
}
