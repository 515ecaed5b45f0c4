/*
 * portwarden's optional fast path, a plain N-API addon (no C++ wrapper):
 *
 *   dumpSockets(tcpStates, udpStates, families, portFrom, portTo[, nsPath]) -> Buffer of records
 *     NETLINK_SOCK_DIAG inet_diag_req_v2 dumps. The state masks go into the request, and a port
 *     range (or -1, -1) becomes an INET_DIAG_REQ_BYTECODE filter (sport >= from && sport <= to),
 *     so for one port the kernel sends only that port's sockets. nsPath (an nsfs file: /run/netns/
 *     NAME, /proc/PID/ns/net) dumps that network namespace's tables instead (netns.c).
 *   dumpSocketsAsync(...same) -> Promise of the same, dumped on a libuv pool thread.
 *
 *   scanSocketFds(pids, inodes, procRoot, method, threads[, withDetails])
 *       -> { pairs, unreadable, method, bpfRefusal, details }
 *   scanSocketFdsAsync(...same) -> Promise of the same, run off the main thread
 *     Which pids hold which sockets: [inode, pid, ...] pairs sorted by inode then pid, without
 *     repeats, for the given pids (null: every process, listed here) and the sorted list of
 *     socket inodes (an empty list: every socket), and the pids whose fd table was refused (sorted). `method` "auto" uses the BPF
 *     task_file iterator (bpf_socket_fds.c) when the kernel and privileges allow, else walks
 *     /proc/<pid>/fd on `threads` threads with readlink; "bpf", "readlink" and "stat" (fstatat's
 *     st_ino) force one. The answer names the method used and, under "auto", why BPF was not.
 *     withDetails: `details` also holds every holder's /proc/<pid>/stat, cmdline and owner uid
 *     (see read_details), read on the same thread.
 *
 *   renderSocketsJson(...) -> { json, hidden }: `list --json` from records and pairs
 *     (render_json.c).
 *
 * The record layout is in records.h.
 */
#define _GNU_SOURCE
#include "bpf_socket_fds.h"
#include "growable.h"
#include "records.h"
#include "render_json.h"
#include "link_dump.h"
#include "netns.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <node_api.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define RECV_BUFFER_SIZE (256 * 1024)
#define MAX_THREADS 8

/* ---------------------------------------------------------------- sock_diag dumps ---------- */

struct diag_request {
  struct nlmsghdr header;
  struct inet_diag_req_v2 body;
  struct rtattr filter_attr;
  struct inet_diag_bc_op filter[4];
};

/* One dump (one protocol, one family). Returns 0, or a positive errno. */
static int dump_one(int sock, uint8_t protocol, uint8_t family, uint32_t states, int port_from, int port_to,
                    struct growable *out, uint8_t *buffer) {
  struct diag_request request;
  memset(&request, 0, sizeof request);
  size_t length = sizeof(struct nlmsghdr) + sizeof(struct inet_diag_req_v2);
  request.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  request.header.nlmsg_seq = 1;
  request.body.sdiag_family = family;
  request.body.sdiag_protocol = protocol;
  request.body.idiag_states = states;
  /* One port: the kernel also skips other ports before running the bytecode at all. */
  if (port_from >= 0 && port_from == port_to) request.body.id.idiag_sport = htons(port_from);
  if (port_from >= 0) {
    /* sport >= from, then sport <= to; "no" jumps past the end (length + 4): reject. */
    request.filter[0] = (struct inet_diag_bc_op){INET_DIAG_BC_S_GE, 8, 20};
    request.filter[1] = (struct inet_diag_bc_op){0, 0, (unsigned short)port_from};
    request.filter[2] = (struct inet_diag_bc_op){INET_DIAG_BC_S_LE, 8, 12};
    request.filter[3] = (struct inet_diag_bc_op){0, 0, (unsigned short)port_to};
    request.filter_attr.rta_type = INET_DIAG_REQ_BYTECODE;
    request.filter_attr.rta_len = RTA_LENGTH(sizeof request.filter);
    length += RTA_SPACE(sizeof request.filter);
  }
  request.header.nlmsg_len = (uint32_t)length;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  struct iovec iov = {&request, length};
  /* Designated: musl's msghdr has padding members, so a positional list would misplace fields. */
  struct msghdr message = {
      .msg_name = &kernel, .msg_namelen = sizeof kernel, .msg_iov = &iov, .msg_iovlen = 1};
  if (sendmsg(sock, &message, 0) < 0) return errno;

  for (;;) {
    ssize_t received = recv(sock, buffer, RECV_BUFFER_SIZE, 0);
    if (received < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (received == 0) return EPROTO;
    struct nlmsghdr *h = (struct nlmsghdr *)buffer;
    size_t left = (size_t)received;
    for (; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type == NLMSG_DONE) return 0;
      if (h->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr *error = NLMSG_DATA(h);
        return error->error ? -error->error : EPROTO;
      }
      if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY) continue;
      if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg))) continue;
      struct inet_diag_msg *msg = NLMSG_DATA(h);
      if (grow(out, RECORD_SIZE)) return ENOMEM;
      uint8_t *record = out->data + out->length;
      out->length += RECORD_SIZE;
      memset(record, 0, RECORD_SIZE);
      record[0] = protocol;
      record[1] = msg->idiag_family;
      record[2] = msg->idiag_state;
      uint16_t ports[2] = {ntohs(msg->id.idiag_sport), ntohs(msg->id.idiag_dport)};
      uint32_t ids[2] = {msg->idiag_uid, msg->idiag_inode};
      memcpy(record + 4, ports, 4);
      memcpy(record + 8, ids, 8);
      memcpy(record + 16, msg->id.idiag_src, msg->idiag_family == AF_INET ? 4 : 16);
      memcpy(record + 32, msg->id.idiag_dst, msg->idiag_family == AF_INET ? 4 : 16);
    }
  }
}

static napi_value throw_errno(napi_env env, int error, const char *what) {
  char message[512];
  snprintf(message, sizeof message, "%s: %s", what, strerror(error));
  char code[32];
  snprintf(code, sizeof code, "ERRNO_%d", error);
  napi_throw_error(env, code, message);
  return NULL;
}

/* One dump: its arguments, then its records or errno (an async dump outlives the call). */
struct dump_request {
  uint32_t tcp_states, udp_states, families;
  int32_t port_from, port_to;
  char ns_path[256]; /* empty: this process's own namespace */
  int error;
  struct growable out;
  /*
   * The caller's last dump (optional): when this one has the same bytes, it is the answer, with
   * no new Buffer (a steady machine's polls allocate nothing). Compared off the main thread, so
   * the caller must never change it; the reference keeps it alive until then.
   */
  napi_ref previous;
  const uint8_t *previous_data;
  size_t previous_length;
  bool same_as_previous;
  napi_async_work work;
  napi_deferred deferred;
};

/* An optional string argument (undefined or null: empty) that fits `size` with its NUL. */
static bool optional_path(napi_env env, napi_value value, char *out, size_t size) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok) return false;
  if (type == napi_undefined || type == napi_null) return true;
  size_t length;
  if (type != napi_string || napi_get_value_string_utf8(env, value, out, size, &length) != napi_ok)
    return false;
  return length < size - 1;
}

/* Reads (tcpStates, udpStates, families, portFrom, portTo[, nsPath]); throws and returns NULL if invalid. */
/* An optional Buffer argument (undefined or null: none): the dump to compare with. */
static bool optional_previous(napi_env env, napi_value value, struct dump_request *request) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok) return false;
  if (type == napi_undefined || type == napi_null) return true;
  bool is_buffer;
  void *data;
  if (napi_is_buffer(env, value, &is_buffer) != napi_ok || !is_buffer ||
      napi_get_buffer_info(env, value, &data, &request->previous_length) != napi_ok ||
      napi_create_reference(env, value, 1, &request->previous) != napi_ok)
    return false;
  request->previous_data = data;
  return true;
}

static void free_dump(napi_env env, struct dump_request *request) {
  if (request->previous) napi_delete_reference(env, request->previous);
  free(request->out.data);
  free(request);
}

static struct dump_request *parse_dump(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct dump_request *request = calloc(1, sizeof *request);
  if (!request) {
    throw_errno(env, ENOMEM, "dumpSockets");
    return NULL;
  }
  request->port_from = request->port_to = -1;
  if (argc < 5 || napi_get_value_uint32(env, argv[0], &request->tcp_states) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &request->udp_states) != napi_ok ||
      napi_get_value_uint32(env, argv[2], &request->families) != napi_ok ||
      napi_get_value_int32(env, argv[3], &request->port_from) != napi_ok ||
      napi_get_value_int32(env, argv[4], &request->port_to) != napi_ok ||
      request->port_from > 65535 || request->port_to > 65535 ||
      (request->port_from >= 0 && request->port_to < request->port_from) ||
      (argc >= 6 && !optional_path(env, argv[5], request->ns_path, sizeof request->ns_path)) ||
      (argc >= 7 && !optional_previous(env, argv[6], request))) {
    free_dump(env, request);
    napi_throw_type_error(
        env, NULL,
        "dumpSockets(tcpStates, udpStates, families, portFrom, portTo[, nsPath[, previous]])");
    return NULL;
  }
  return request;
}

/* The dumps themselves; touches no JavaScript (runs off the main thread too). */
/*
 * A dump is resumed by position: a socket added or removed meanwhile shifts the rest, and one
 * can come twice. A socket is one inode, so the records from `start` keep the first of each
 * (inode 0, TIME-WAIT and the like, names no socket and is kept). Returns 0 or ENOMEM.
 */
static int drop_repeats(struct growable *out, size_t start) {
  size_t count = (out->length - start) / RECORD_SIZE;
  if (count < 2) return 0;
  size_t slots = 2;
  while (slots < count * 2) slots *= 2;
  uint32_t *seen = calloc(slots, sizeof *seen);
  if (!seen) return ENOMEM;
  size_t kept = start;
  for (size_t at = start; at < out->length; at += RECORD_SIZE) {
    uint32_t inode;
    memcpy(&inode, out->data + at + 12, 4);
    if (inode) {
      size_t slot = (inode * 2654435761u) & (slots - 1);
      while (seen[slot] && seen[slot] != inode) slot = (slot + 1) & (slots - 1);
      if (seen[slot]) continue;
      seen[slot] = inode;
    }
    if (kept != at) memmove(out->data + kept, out->data + at, RECORD_SIZE);
    kept += RECORD_SIZE;
  }
  out->length = kept;
  free(seen);
  return 0;
}

static void run_dump(struct dump_request *request) {
  int sock = netlink_socket_in(NETLINK_SOCK_DIAG, request->ns_path);
  if (sock < 0) {
    request->error = -sock;
    return;
  }
  uint8_t *buffer = malloc(RECV_BUFFER_SIZE);
  int error = buffer ? 0 : ENOMEM;
  const uint8_t protocols[2] = {IPPROTO_TCP, IPPROTO_UDP};
  const uint32_t masks[2] = {request->tcp_states, request->udp_states};
  const uint8_t family_codes[2] = {AF_INET, AF_INET6};
  for (int p = 0; p < 2 && !error; p++) {
    if (!masks[p]) continue;
    for (int f = 0; f < 2 && !error; f++) {
      if (!(request->families & (1u << f))) continue;
      size_t start = request->out.length;
      error = dump_one(sock, protocols[p], family_codes[f], masks[p], request->port_from,
                       request->port_to, &request->out, buffer);
      if (!error) error = drop_repeats(&request->out, start);
      /* IPv6 compiled out or disabled: the table is simply absent, as in /proc/net. */
      if (error == EAFNOSUPPORT && family_codes[f] == AF_INET6) error = 0;
    }
  }
  close(sock);
  free(buffer);
  request->error = error;
  request->same_as_previous =
      !error && request->previous_data && request->previous_length == request->out.length &&
      (request->out.length == 0 ||
       memcmp(request->previous_data, request->out.data, request->out.length) == 0);
}

/* The records as a Buffer, or NULL with the error in *error. Frees nothing. */
static napi_value dump_result(napi_env env, struct dump_request *request, napi_value *error) {
  char message[256], code[32];
  if (request->error) {
    snprintf(message, sizeof message, "sock_diag dump: %s", strerror(request->error));
    snprintf(code, sizeof code, "ERRNO_%d", request->error);
  } else {
    napi_value result;
    if (request->same_as_previous &&
        napi_get_reference_value(env, request->previous, &result) == napi_ok && result)
      return result;
    void *copy;
    const void *data = request->out.length ? (const void *)request->out.data : (const void *)"";
    if (napi_create_buffer_copy(env, request->out.length, data, &copy, &result) == napi_ok)
      return result;
    snprintf(message, sizeof message, "dumpSockets: %s", strerror(ENOMEM));
    snprintf(code, sizeof code, "ERRNO_%d", ENOMEM);
  }
  napi_value text, code_value;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &text);
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_value);
  napi_create_error(env, code_value, text, error);
  return NULL;
}

static napi_value dump_sockets(napi_env env, napi_callback_info info) {
  struct dump_request *request = parse_dump(env, info);
  if (!request) return NULL;
  run_dump(request);
  napi_value error;
  napi_value result = dump_result(env, request, &error);
  free_dump(env, request);
  if (!result) napi_throw(env, error);
  return result;
}

static void execute_dump(napi_env env, void *data) { run_dump(data); }

static void complete_dump(napi_env env, napi_status status, void *data) {
  struct dump_request *request = data;
  napi_value error;
  napi_value result = dump_result(env, request, &error);
  if (result) napi_resolve_deferred(env, request->deferred, result);
  else napi_reject_deferred(env, request->deferred, error);
  napi_delete_async_work(env, request->work);
  free_dump(env, request);
}

/* Queues `data` for `execute` on a libuv pool thread: its promise, or NULL if nothing queued. */
static napi_value queue_work(napi_env env, const char *name, napi_async_execute_callback execute,
                             napi_async_complete_callback complete, void *data,
                             napi_async_work *work, napi_deferred *deferred) {
  napi_value promise, resource;
  if (napi_create_promise(env, deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource) != napi_ok ||
      napi_create_async_work(env, NULL, resource, execute, complete, data, work) != napi_ok ||
      napi_queue_async_work(env, *work) != napi_ok)
    return NULL;
  return promise;
}

/* The same dump on a libuv pool thread: resolves with the Buffer of records. */
static napi_value dump_sockets_async(napi_env env, napi_callback_info info) {
  struct dump_request *request = parse_dump(env, info);
  if (!request) return NULL;
  napi_value promise = queue_work(env, "portwarden:dumpSockets", execute_dump, complete_dump,
                                  request, &request->work, &request->deferred);
  if (!promise) {
    free_dump(env, request);
    return throw_errno(env, ENOMEM, "dumpSocketsAsync");
  }
  return promise;
}

/* ---------------------------------------------------------------- fd walk ------------------ */

struct scan_job {
  const uint32_t *pids;
  size_t pid_count;
  size_t first, stride;
  const uint32_t *inodes; /* sorted */
  size_t inode_count;
  int proc_fd;
  int use_stat; /* fstatat's st_ino instead of readlink */
  struct growable pairs;      /* u32 inode, u32 pid */
  struct growable unreadable; /* u32 pid */
  int failed;
};

static int in_sorted(const uint32_t *list, size_t count, uint32_t value) {
  size_t low = 0, high = count;
  while (low < high) {
    size_t mid = (low + high) / 2;
    if (list[mid] == value) return 1;
    if (list[mid] < value) low = mid + 1;
    else high = mid;
  }
  return 0;
}

static int wanted(const struct scan_job *job, uint32_t inode) {
  return job->inode_count == 0 /* no list: every socket */ ||
         in_sorted(job->inodes, job->inode_count, inode);
}

static int push_u32(struct growable *g, uint32_t value) {
  if (grow(g, 4)) return -1;
  memcpy(g->data + g->length, &value, 4);
  g->length += 4;
  return 0;
}

/* "socket:[12345]" -> 12345, or 0 when the link is not a socket. */
static uint32_t socket_link_inode(const char *target, ssize_t length) {
  if (length < 10 || memcmp(target, "socket:[", 8) != 0 || target[length - 1] != ']') return 0;
  uint64_t value = 0;
  for (ssize_t i = 8; i < length - 1; i++) {
    if (target[i] < '0' || target[i] > '9') return 0;
    value = value * 10 + (uint64_t)(target[i] - '0');
    if (value > UINT32_MAX) return 0;
  }
  return (uint32_t)value;
}

static void *scan_thread(void *argument) {
  struct scan_job *job = argument;
  char path[32];
  char target[64];
  for (size_t i = job->first; i < job->pid_count && !job->failed; i += job->stride) {
    uint32_t pid = job->pids[i];
    snprintf(path, sizeof path, "%u/fd", pid);
    int dir_fd = openat(job->proc_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) {
      if ((errno == EACCES || errno == EPERM) && push_u32(&job->unreadable, pid)) job->failed = 1;
      continue; /* ENOENT/ESRCH: the process exited while we looked */
    }
    DIR *dir = fdopendir(dir_fd);
    if (!dir) {
      close(dir_fd);
      continue;
    }
    uint32_t last_inode = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
      if (entry->d_name[0] == '.') continue;
      uint32_t inode;
      if (job->use_stat) {
        struct stat st;
        if (fstatat(dir_fd, entry->d_name, &st, 0) < 0) {
          if (errno == EACCES || errno == EPERM) {
            if (push_u32(&job->unreadable, pid)) job->failed = 1;
            break;
          }
          continue; /* closed between readdir and stat */
        }
        if (!S_ISSOCK(st.st_mode) || st.st_ino > UINT32_MAX) continue;
        inode = (uint32_t)st.st_ino;
      } else {
        ssize_t n = readlinkat(dir_fd, entry->d_name, target, sizeof target);
        if (n < 0) {
          /* Some sandboxes list the fd directory but refuse the links, even to root. */
          if (errno == EACCES || errno == EPERM) {
            if (push_u32(&job->unreadable, pid)) job->failed = 1;
            break;
          }
          continue;
        }
        inode = socket_link_inode(target, n);
      }
      if (inode == 0 || inode == last_inode || !wanted(job, inode)) continue;
      last_inode = inode;
      if (push_u32(&job->pairs, inode) || push_u32(&job->pairs, pid)) {
        job->failed = 1;
        break;
      }
    }
    closedir(dir);
  }
  return NULL;
}

static int compare_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static int compare_pair(const void *a, const void *b) {
  const uint32_t *x = a, *y = b;
  if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
  return x[1] < y[1] ? -1 : x[1] > y[1];
}

static napi_value typed_u32(napi_env env, const struct growable *parts, size_t count) {
  size_t bytes = 0;
  for (size_t i = 0; i < count; i++) bytes += parts[i].length;
  napi_value buffer, array;
  void *data;
  if (napi_create_arraybuffer(env, bytes, &data, &buffer) != napi_ok) return NULL;
  size_t offset = 0;
  for (size_t i = 0; i < count; i++) {
    if (parts[i].length) memcpy((uint8_t *)data + offset, parts[i].data, parts[i].length);
    offset += parts[i].length;
  }
  if (napi_create_typedarray(env, napi_uint32_array, bytes / 4, buffer, 0, &array) != napi_ok)
    return NULL;
  return array;
}

static int u32_array(napi_env env, napi_value value, uint32_t **data, size_t *count) {
  napi_typedarray_type type;
  size_t length;
  void *pointer;
  if (napi_get_typedarray_info(env, value, &type, &length, &pointer, NULL, NULL) != napi_ok ||
      type != napi_uint32_array)
    return -1;
  *data = pointer;
  *count = length;
  return 0;
}

enum scan_method { METHOD_AUTO, METHOD_BPF, METHOD_READLINK, METHOD_STAT };
static const char *const METHOD_NAMES[] = {"auto", "bpf", "readlink", "stat"};

/* One scan: its own copies of the inputs (an async scan outlives the call), then the results. */
struct scan_request {
  uint32_t *pids;
  size_t pid_count;
  uint32_t *inodes;
  size_t inode_count;
  char proc_root[256];
  bool every_process;       /* pids was null: every process in procRoot */
  enum scan_method method; /* asked for; then the one used */
  uint32_t threads;
  int error;      /* errno of opening procRoot, or ENOMEM */
  char message[320];        /* instead of strerror(error), when set */
  char bpf_refusal[256];    /* why the BPF iterator was not used, under METHOD_AUTO */
  struct growable pairs[MAX_THREADS];
  struct growable unreadable[MAX_THREADS];
  bool with_details;        /* also read every holder's stat, cmdline and owner */
  struct growable details;
  napi_async_work work;
  napi_deferred deferred;
};

static void free_request(struct scan_request *request) {
  for (uint32_t t = 0; t < MAX_THREADS; t++) {
    free(request->pairs[t].data);
    free(request->unreadable[t].data);
  }
  free(request->details.data);
  free(request->pids);
  free(request->inodes);
  free(request);
}

/* Reads (pids, sortedInodes, procRoot, method, threads[, withDetails]); throws and returns NULL
   if invalid. */
static struct scan_request *parse_request(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t *pids = NULL, *inodes;
  size_t pid_count = 0, inode_count, root_length;
  napi_valuetype pids_type = napi_undefined;
  char method[16] = "";
  size_t method_length;
  uint32_t threads = 1;
  struct scan_request *request = calloc(1, sizeof *request);
  if (!request) {
    throw_errno(env, ENOMEM, "scanSocketFds");
    return NULL;
  }
  if (argc >= 1) napi_typeof(env, argv[0], &pids_type);
  if (argc < 5 || (pids_type != napi_null && u32_array(env, argv[0], &pids, &pid_count)) ||
      u32_array(env, argv[1], &inodes, &inode_count) ||
      napi_get_value_string_utf8(env, argv[2], request->proc_root, sizeof request->proc_root,
                                 &root_length) != napi_ok ||
      root_length >= sizeof request->proc_root - 1 ||
      napi_get_value_string_utf8(env, argv[3], method, sizeof method, &method_length) != napi_ok ||
      napi_get_value_uint32(env, argv[4], &threads) != napi_ok) {
    free(request);
    napi_throw_type_error(env, NULL,
                          "scanSocketFds(pids: Uint32Array | null (every process), sortedInodes: "
                          "Uint32Array (empty: every socket), procRoot, method: "
                          "auto|bpf|readlink|stat, threads)");
    return NULL;
  }
  request->pids = malloc(pid_count * 4 + 4);
  request->inodes = malloc(inode_count * 4 + 4);
  if (!request->pids || !request->inodes) {
    free_request(request);
    throw_errno(env, ENOMEM, "scanSocketFds");
    return NULL;
  }
  if (pid_count) memcpy(request->pids, pids, pid_count * 4);
  if (inode_count) memcpy(request->inodes, inodes, inode_count * 4);
  request->pid_count = pid_count;
  request->every_process = pids_type == napi_null;
  if (argc >= 6 && napi_get_value_bool(env, argv[5], &request->with_details) != napi_ok)
    request->with_details = false;
  request->inode_count = inode_count;
  request->method = METHOD_AUTO;
  while (request->method <= METHOD_STAT && strcmp(method, METHOD_NAMES[request->method]) != 0)
    request->method++;
  if (request->method > METHOD_STAT) {
    free_request(request);
    napi_throw_type_error(env, NULL, "scanSocketFds: method must be auto, bpf, readlink or stat");
    return NULL;
  }
  if (threads < 1) threads = 1;
  if (threads > MAX_THREADS) threads = MAX_THREADS;
  request->threads = threads;
  return request;
}

/* Sorted by inode then pid, without repeats. */
static void sort_pairs(struct growable *pairs) {
  uint32_t *pair_data = (uint32_t *)pairs->data;
  size_t pair_count = pairs->length / 4;
  if (!pair_count) return;
  qsort(pair_data, pair_count / 2, 8, compare_pair);
  size_t kept = 2;
  for (size_t i = 2; i < pair_count; i += 2) {
    if (pair_data[i] == pair_data[kept - 2] && pair_data[i + 1] == pair_data[kept - 1]) continue;
    pair_data[kept] = pair_data[i];
    pair_data[kept + 1] = pair_data[i + 1];
    kept += 2;
  }
  pairs->length = kept * 4;
}

/* The iterator saw every process: keep the asked-for pids and inodes, as the walk would. */
static void keep_requested(struct scan_request *request) {
  if (!request->every_process) qsort(request->pids, request->pid_count, 4, compare_u32);
  struct growable *pairs = &request->pairs[0];
  uint32_t *pair_data = (uint32_t *)pairs->data;
  size_t kept = 0;
  for (size_t i = 0; i + 1 < pairs->length / 4; i += 2) {
    uint32_t inode = pair_data[i], pid = pair_data[i + 1];
    if (inode == 0) continue;
    if (!request->every_process && !in_sorted(request->pids, request->pid_count, pid)) continue;
    if (request->inode_count && !in_sorted(request->inodes, request->inode_count, inode)) continue;
    pair_data[kept++] = inode;
    pair_data[kept++] = pid;
  }
  pairs->length = kept * 4;
}

/* Appends the whole file at `path` (below `dir_fd`); its length, or -1 if it cannot be read. */
static long append_file(int dir_fd, const char *path, struct growable *out) {
  int fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t start = out->length;
  for (;;) {
    if (grow(out, 4096)) {
      close(fd);
      out->length = start;
      return -1;
    }
    ssize_t n = read(fd, out->data + out->length, out->capacity - out->length);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      close(fd);
      out->length = start;
      return -1;
    }
    if (n == 0) break;
    out->length += (size_t)n;
  }
  close(fd);
  return (long)(out->length - start);
}

struct details_job {
  const uint32_t *pids; /* sorted, without repeats */
  size_t count, first, stride;
  int proc_fd;
  struct growable out;
};

static void *details_thread(void *argument) {
  struct details_job *job = argument;
  char path[40];
  for (size_t i = job->first; i < job->count; i += job->stride) {
    uint32_t pid = job->pids[i];
    struct stat st;
    snprintf(path, sizeof path, "%u", pid);
    if (fstatat(job->proc_fd, path, &st, 0) < 0 || grow(&job->out, 16)) continue;
    size_t header = job->out.length;
    job->out.length += 16;
    snprintf(path, sizeof path, "%u/stat", pid);
    long stat_length = append_file(job->proc_fd, path, &job->out);
    if (stat_length <= 0) {
      job->out.length = header;
      continue;
    }
    snprintf(path, sizeof path, "%u/cmdline", pid);
    long command_length = append_file(job->proc_fd, path, &job->out);
    if (command_length < 0) command_length = 0;
    uint32_t fields[4] = {pid, (uint32_t)st.st_uid, (uint32_t)stat_length,
                          (uint32_t)command_length};
    memcpy(job->out.data + header, fields, 16);
  }
  return NULL;
}

/*
 * What ProcessReader would read for each holder in the pairs, read here, off the main thread, on
 * `threads` threads: per pid, u32 pid, u32 owner uid (of /proc/<pid>), u32 stat length, u32
 * cmdline length, then the bytes of /proc/<pid>/stat and /proc/<pid>/cmdline. A pid that
 * exited is left out; on any failure the details are left out and the caller reads them itself.
 */
static void read_details(struct scan_request *request) {
  const uint32_t *pair = (const uint32_t *)request->pairs[0].data;
  size_t count = request->pairs[0].length / 8;
  uint32_t *pids = malloc(count * 4 + 4);
  int proc_fd = open(request->proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (!pids || proc_fd < 0) {
    free(pids);
    if (proc_fd >= 0) close(proc_fd);
    return;
  }
  for (size_t i = 0; i < count; i++) pids[i] = pair[2 * i + 1];
  qsort(pids, count, 4, compare_u32);
  size_t unique = 0;
  for (size_t i = 0; i < count; i++)
    if (unique == 0 || pids[i] != pids[unique - 1]) pids[unique++] = pids[i];
  uint32_t threads = request->threads;
  if (threads > unique) threads = unique ? (uint32_t)unique : 1;
  struct details_job jobs[MAX_THREADS];
  pthread_t handles[MAX_THREADS];
  int started[MAX_THREADS] = {0};
  for (uint32_t t = 0; t < threads; t++)
    jobs[t] = (struct details_job){pids, unique, t, threads, proc_fd, {0}};
  for (uint32_t t = 1; t < threads; t++)
    started[t] = pthread_create(&handles[t], NULL, details_thread, &jobs[t]) == 0;
  details_thread(&jobs[0]);
  for (uint32_t t = 1; t < threads; t++) {
    if (started[t]) pthread_join(handles[t], NULL);
    else details_thread(&jobs[t]);
  }
  close(proc_fd);
  free(pids);
  request->details = jobs[0].out;
  for (uint32_t t = 1; t < threads; t++) {
    struct growable *from = &jobs[t].out;
    if (from->length && !grow(&request->details, from->length)) {
      memcpy(request->details.data + request->details.length, from->data, from->length);
      request->details.length += from->length;
    }
    free(from->data);
  }
}

/* Every numeric entry of procRoot into request->pids (for a null pids argument). */
static int list_pids(int proc_fd, struct scan_request *request) {
  int dir_fd = openat(proc_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *dir = dir_fd >= 0 ? fdopendir(dir_fd) : NULL;
  if (!dir) {
    if (dir_fd >= 0) close(dir_fd);
    return 0; /* nothing to walk */
  }
  struct growable pids = {0};
  struct dirent *entry;
  int failed = 0;
  while ((entry = readdir(dir)) != NULL && !failed) {
    char *end;
    unsigned long pid = strtoul(entry->d_name, &end, 10);
    if (entry->d_name[0] < '1' || entry->d_name[0] > '9' || *end || pid > UINT32_MAX) continue;
    failed = push_u32(&pids, (uint32_t)pid);
  }
  closedir(dir);
  free(request->pids);
  request->pids = (uint32_t *)pids.data;
  request->pid_count = pids.length / 4;
  return failed;
}

/*
 * The BPF task_file iterator when the kernel and our privileges allow it (every process in one
 * pass, nothing unreadable), else the /proc/<pid>/fd walk on `threads` threads. Touches no
 * JavaScript (runs off the main thread too).
 */
static void run_scan(struct scan_request *request) {
  if (request->method == METHOD_AUTO || request->method == METHOD_BPF) {
    if (strcmp(request->proc_root, "/proc") != 0) {
      snprintf(request->bpf_refusal, sizeof request->bpf_refusal, "procRoot is not /proc");
    } else if (bpf_socket_fds(&request->pairs[0], request->bpf_refusal,
                              sizeof request->bpf_refusal) == 0) {
      request->method = METHOD_BPF;
      keep_requested(request);
      sort_pairs(&request->pairs[0]);
      if (request->with_details) read_details(request);
      return;
    }
    if (request->method == METHOD_BPF) {
      request->error = EPERM;
      snprintf(request->message, sizeof request->message, "scanSocketFds: the BPF iterator: %s",
               request->bpf_refusal);
      return;
    }
    request->method = METHOD_READLINK;
  }
  int proc_fd = open(request->proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (proc_fd < 0) {
    request->error = errno;
    return;
  }
  if (request->every_process && list_pids(proc_fd, request)) {
    close(proc_fd);
    request->error = ENOMEM;
    return;
  }
  uint32_t threads = request->threads;
  if (threads > request->pid_count) threads = request->pid_count ? (uint32_t)request->pid_count : 1;
  struct scan_job jobs[MAX_THREADS];
  pthread_t handles[MAX_THREADS];
  int started[MAX_THREADS] = {0};
  for (uint32_t t = 0; t < threads; t++) {
    jobs[t] = (struct scan_job){request->pids, request->pid_count, t, threads, request->inodes,
                                request->inode_count, proc_fd, request->method == METHOD_STAT, {0}, {0}, 0};
  }
  /* Interleaved pids: big and small fd tables spread over every thread. */
  for (uint32_t t = 1; t < threads; t++)
    started[t] = pthread_create(&handles[t], NULL, scan_thread, &jobs[t]) == 0;
  scan_thread(&jobs[0]);
  for (uint32_t t = 1; t < threads; t++) {
    if (started[t]) pthread_join(handles[t], NULL);
    else scan_thread(&jobs[t]);
  }
  close(proc_fd);
  /* Everything into slot 0, sorted (pairs by inode then pid, without repeats), still off the
     main thread when the scan is async. */
  for (uint32_t t = 0; t < threads; t++) {
    if (jobs[t].failed) request->error = ENOMEM;
    request->pairs[t] = jobs[t].pairs;
    request->unreadable[t] = jobs[t].unreadable;
  }
  for (uint32_t t = 1; t < threads && !request->error; t++) {
    struct growable *lists[2] = {request->pairs, request->unreadable};
    for (int k = 0; k < 2; k++) {
      struct growable *into = &lists[k][0], *from = &lists[k][t];
      if (!from->length) continue;
      if (grow(into, from->length)) {
        request->error = ENOMEM;
        break;
      }
      memcpy(into->data + into->length, from->data, from->length);
      into->length += from->length;
    }
  }
  if (request->error) return;
  sort_pairs(&request->pairs[0]);
  if (request->with_details) read_details(request);
  if (request->unreadable[0].length)
    qsort(request->unreadable[0].data, request->unreadable[0].length / 4, 4, compare_u32);
}

/* { pairs, unreadable }, or NULL with the error to throw in *error. */
static napi_value scan_result(napi_env env, struct scan_request *request, napi_value *error) {
  *error = NULL;
  if (request->error) {
    char message[320];
    if (request->message[0]) snprintf(message, sizeof message, "%s", request->message);
    else
      snprintf(message, sizeof message, "scanSocketFds %s: %s", request->proc_root,
               strerror(request->error));
    napi_value text;
    napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &text);
    napi_create_error(env, NULL, text, error);
    return NULL;
  }
  napi_value pair_array = typed_u32(env, request->pairs, 1);
  napi_value unreadable_array = typed_u32(env, request->unreadable, 1);
  napi_value result = NULL;
  if (pair_array && unreadable_array) {
    napi_create_object(env, &result);
    napi_set_named_property(env, result, "pairs", pair_array);
    napi_set_named_property(env, result, "unreadable", unreadable_array);
    napi_value method, refusal;
    napi_create_string_utf8(env, METHOD_NAMES[request->method], NAPI_AUTO_LENGTH, &method);
    napi_create_string_utf8(env, request->bpf_refusal, NAPI_AUTO_LENGTH, &refusal);
    napi_set_named_property(env, result, "method", method);
    napi_set_named_property(env, result, "bpfRefusal", refusal);
    napi_value details;
    void *bytes;
    if (napi_create_buffer_copy(env, request->details.length,
                                request->details.data ? (void *)request->details.data : (void *)"",
                                &bytes, &details) == napi_ok)
      napi_set_named_property(env, result, "details", details);
  }
  if (!result) {
    napi_value text;
    napi_create_string_utf8(env, "scanSocketFds: out of memory", NAPI_AUTO_LENGTH, &text);
    napi_create_error(env, NULL, text, error);
  }
  return result;
}

static napi_value scan_socket_fds(napi_env env, napi_callback_info info) {
  struct scan_request *request = parse_request(env, info);
  if (!request) return NULL;
  run_scan(request);
  napi_value error;
  napi_value result = scan_result(env, request, &error);
  free_request(request);
  if (!result) napi_throw(env, error);
  return result;
}

static void execute_scan(napi_env env, void *data) { run_scan(data); }

static void complete_scan(napi_env env, napi_status status, void *data) {
  struct scan_request *request = data;
  napi_value error;
  napi_value result = scan_result(env, request, &error);
  if (result) napi_resolve_deferred(env, request->deferred, result);
  else napi_reject_deferred(env, request->deferred, error);
  napi_delete_async_work(env, request->work);
  free_request(request);
}

/* The same scan on a libuv pool thread (and its helpers): resolves with its result object. */
static napi_value scan_socket_fds_async(napi_env env, napi_callback_info info) {
  struct scan_request *request = parse_request(env, info);
  if (!request) return NULL;
  napi_value promise = queue_work(env, "portwarden:scanSocketFds", execute_scan, complete_scan,
                                  request, &request->work, &request->deferred);
  if (!promise) {
    free_request(request);
    return throw_errno(env, ENOMEM, "scanSocketFdsAsync");
  }
  return promise;
}

/*
 * Hands the allocator's free pages back to the kernel (glibc's malloc_trim; false elsewhere).
 * glibc keeps what large buffers free (its mmap threshold grows to the largest freed), so a
 * long-running process that made a few 10 MB documents holds their pages as resident memory.
 */
static napi_value trim_memory(napi_env env, napi_callback_info info) {
  napi_value result;
#ifdef __GLIBC__
  napi_get_boolean(env, malloc_trim(0) == 1, &result);
#else
  napi_get_boolean(env, false, &result);
#endif
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"dumpSockets", NULL, dump_sockets, NULL, NULL, NULL, napi_default, NULL},
      {"dumpSocketsAsync", NULL, dump_sockets_async, NULL, NULL, NULL, napi_default, NULL},
      {"scanSocketFds", NULL, scan_socket_fds, NULL, NULL, NULL, napi_default, NULL},
      {"scanSocketFdsAsync", NULL, scan_socket_fds_async, NULL, NULL, NULL, napi_default, NULL},
      {"renderSocketsJson", NULL, render_sockets_json, NULL, NULL, NULL, napi_default, NULL},
      {"listUdpTunnels", NULL, list_udp_tunnels, NULL, NULL, NULL, napi_default, NULL},
      {"trimMemory", NULL, trim_memory, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  napi_value size;
  napi_create_uint32(env, RECORD_SIZE, &size);
  napi_set_named_property(env, exports, "recordSize", size);
  /* An older build ignores an nsPath argument (and dumps its own namespace): callers check. */
  napi_value namespaces;
  napi_get_boolean(env, true, &namespaces);
  napi_set_named_property(env, exports, "enterNamespaces", namespaces);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
