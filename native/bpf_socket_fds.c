/*
 * Which process holds which socket, in one pass inside the kernel: a BPF task_file iterator
 * (Linux 5.9+, root: CAP_BPF + CAP_PERFMON or CAP_SYS_ADMIN, a kernel with BTF).
 *
 * The /proc/<pid>/fd walk costs a path lookup and a readlink per open file (~2-6 us each, all
 * kernel time); at 150k fds that is most of `ss -p`'s run. The iterator visits the same file
 * tables without building a dentry per fd and writes 8 bytes per socket: (inode, tgid).
 *
 * No libbpf: the struct offsets the program needs (file.f_inode, inode.i_mode, inode.i_ino,
 * task_struct.tgid) and the id of the iterator's attach point come from /sys/kernel/btf/vmlinux,
 * and the dozen instructions are assembled here. Any failure (not root, no BTF, a verifier that
 * says no, pids that are not this /proc's) returns -1 with the reason, and the caller walks
 * /proc instead.
 */
#define _GNU_SOURCE
#include "bpf_socket_fds.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <linux/bpf.h>
#include <linux/btf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/version.h>

#define READ_CHUNK (256 * 1024)

#if LINUX_VERSION_CODE < KERNEL_VERSION(5, 9, 0)
/* Kernel headers older than the task_file iterator: build without it (the walk remains). */
int bpf_socket_fds(struct growable *pairs, char *why, size_t why_size) {
  (void)pairs;
  snprintf(why, why_size, "built against kernel headers without BPF iterators");
  return -1;
}
#else

/* ------------------------------------------------------------------------- BTF lookups ---- */

struct btf_view {
  const uint8_t *types;  /* the type section */
  uint32_t types_length;
  const char *strings;
  uint32_t strings_length;
  uint32_t *offsets;     /* type id -> byte offset in `types` (id 0 is void) */
  uint32_t count;        /* number of ids, void included */
  void *mapped;          /* the file, mapped (Linux 6.14+ allows it) ... */
  size_t mapped_length;
  uint8_t *copy;         /* ... or read into memory */
};

static const char *btf_name(const struct btf_view *btf, uint32_t offset) {
  return offset < btf->strings_length ? btf->strings + offset : "";
}

/* Bytes that follow a struct btf_type of this kind, or -1 for a kind this code does not know. */
static long btf_extra(uint32_t info) {
  uint32_t vlen = BTF_INFO_VLEN(info);
  switch (BTF_INFO_KIND(info)) {
    case 1: return 4;                    /* INT */
    case 3: return 12;                   /* ARRAY */
    case 4: case 5: return 12L * vlen;   /* STRUCT, UNION */
    case 6: return 8L * vlen;            /* ENUM */
    case 13: return 8L * vlen;           /* FUNC_PROTO */
    case 14: return 4;                   /* VAR */
    case 15: return 12L * vlen;          /* DATASEC */
    case 17: return 4;                   /* DECL_TAG */
    case 19: return 12L * vlen;          /* ENUM64 */
    case 2: case 7: case 8: case 9: case 10: case 11: case 12: case 16: case 18: return 0;
    default: return -1;
  }
}

static const struct btf_type *btf_type_at(const struct btf_view *btf, uint32_t id) {
  if (id == 0 || id >= btf->count) return NULL;
  return (const struct btf_type *)(btf->types + btf->offsets[id]);
}

/* The whole file in memory: mapped when the kernel allows it (free), else read (~2 ms). */
static const uint8_t *btf_bytes(struct btf_view *btf, size_t *length) {
  int fd = open("/sys/kernel/btf/vmlinux", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  struct stat st;
  if (fstat(fd, &st) == 0 && st.st_size > 0) {
    void *mapped = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapped != MAP_FAILED) {
      close(fd);
      btf->mapped = mapped;
      btf->mapped_length = *length = (size_t)st.st_size;
      return mapped;
    }
  }
  size_t capacity = 8 << 20;
  *length = 0;
  uint8_t *data = malloc(capacity);
  for (;;) {
    if (!data) break;
    if (*length == capacity) {
      uint8_t *bigger = realloc(data, capacity * 2);
      if (!bigger) {
        free(data);
        data = NULL;
        break;
      }
      data = bigger;
      capacity *= 2;
    }
    ssize_t n = read(fd, data + *length, capacity - *length);
    if (n <= 0) break;
    *length += (size_t)n;
  }
  close(fd);
  btf->copy = data;
  return data;
}

static void btf_close(struct btf_view *btf) {
  if (btf->mapped) munmap(btf->mapped, btf->mapped_length);
  free(btf->copy);
  free(btf->offsets);
}

static int btf_open(struct btf_view *btf, char *why, size_t why_size) {
  size_t length;
  const uint8_t *data = btf_bytes(btf, &length);
  if (!data) {
    snprintf(why, why_size, "no kernel BTF (/sys/kernel/btf/vmlinux: %s)", strerror(errno));
    return -1;
  }
  const struct btf_header *header = (const struct btf_header *)data;
  if (length < sizeof *header || header->magic != BTF_MAGIC ||
      (uint64_t)header->hdr_len + header->type_off + header->type_len > length ||
      (uint64_t)header->hdr_len + header->str_off + header->str_len > length) {
    snprintf(why, why_size, "kernel BTF unreadable");
    return -1;
  }
  btf->types = data + header->hdr_len + header->type_off;
  btf->types_length = header->type_len;
  btf->strings = (const char *)data + header->hdr_len + header->str_off;
  btf->strings_length = header->str_len;
  uint32_t capacity_ids = 1 << 17;
  btf->offsets = malloc(capacity_ids * sizeof *btf->offsets);
  btf->count = 1;
  uint32_t at = 0;
  while (btf->offsets && at + sizeof(struct btf_type) <= btf->types_length) {
    const struct btf_type *type = (const struct btf_type *)(btf->types + at);
    long extra = btf_extra(type->info);
    if (extra < 0) {
      snprintf(why, why_size, "kernel BTF has a type kind this build does not know (%u)",
               BTF_INFO_KIND(type->info));
      return -1;
    }
    if (btf->count == capacity_ids) {
      uint32_t *bigger = realloc(btf->offsets, capacity_ids * 2 * sizeof *bigger);
      if (!bigger) break;
      btf->offsets = bigger;
      capacity_ids *= 2;
    }
    btf->offsets[btf->count++] = at;
    at += (uint32_t)(sizeof(struct btf_type) + (size_t)extra);
  }
  if (!btf->offsets || at != btf->types_length) {
    snprintf(why, why_size, "kernel BTF unreadable");
    return -1;
  }
  return 0;
}

/* The ids of the named types, found in one pass (0 for a name not found). */
struct wanted_type {
  uint32_t kind;
  const char *name;
  uint32_t id;
};

static void btf_find(const struct btf_view *btf, struct wanted_type *wanted, size_t count) {
  for (uint32_t id = 1; id < btf->count; id++) {
    const struct btf_type *type = btf_type_at(btf, id);
    uint32_t kind = BTF_INFO_KIND(type->info);
    if (kind != BTF_KIND_STRUCT && kind != BTF_KIND_FUNC) continue;
    const char *name = btf_name(btf, type->name_off);
    for (size_t i = 0; i < count; i++) {
      if (!wanted[i].id && wanted[i].kind == kind && name[0] == wanted[i].name[0] &&
          strcmp(name, wanted[i].name) == 0)
        wanted[i].id = id;
    }
  }
}

/* Size in bytes of a scalar or pointer type (typedefs and qualifiers followed), or 0. */
static uint32_t btf_scalar_size(const struct btf_view *btf, uint32_t id) {
  for (int depth = 0; depth < 16; depth++) {
    const struct btf_type *type = btf_type_at(btf, id);
    if (!type) return 0;
    switch (BTF_INFO_KIND(type->info)) {
      case BTF_KIND_INT: case BTF_KIND_ENUM: return type->size;
      case BTF_KIND_PTR: return 8;
      case BTF_KIND_TYPEDEF: case BTF_KIND_VOLATILE: case BTF_KIND_CONST:
      case BTF_KIND_RESTRICT: case 18 /* TYPE_TAG */:
        id = type->type;
        continue;
      default: return 0;
    }
  }
  return 0;
}

struct field {
  int16_t offset; /* bytes */
  uint8_t size;   /* 2, 4 or 8 */
};

/* A direct (non-bitfield) scalar or pointer member of the struct with id `owner`. */
static int btf_field(const struct btf_view *btf, uint32_t owner, const char *owner_name,
                     const char *member, struct field *field, char *why, size_t why_size) {
  const struct btf_type *type = btf_type_at(btf, owner);
  if (type) {
    const struct btf_member *members = (const struct btf_member *)(type + 1);
    for (uint32_t i = 0; i < BTF_INFO_VLEN(type->info); i++) {
      if (strcmp(btf_name(btf, members[i].name_off), member) != 0) continue;
      uint32_t bits = BTF_INFO_KFLAG(type->info) ? BTF_MEMBER_BIT_OFFSET(members[i].offset)
                                                 : members[i].offset;
      uint32_t size = btf_scalar_size(btf, members[i].type);
      if (bits % 8 || bits / 8 > INT16_MAX || (size != 2 && size != 4 && size != 8)) break;
      field->offset = (int16_t)(bits / 8);
      field->size = (uint8_t)size;
      return 0;
    }
  }
  snprintf(why, why_size, "kernel BTF has no usable %s.%s", owner_name, member);
  return -1;
}

/* ------------------------------------------------------------------------ the program ---- */

#define INSN(c, d, s, o, i) \
  ((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})

static uint8_t size_code(uint8_t bytes) {
  return bytes == 8 ? BPF_DW : bytes == 4 ? BPF_W : bytes == 2 ? BPF_H : BPF_B;
}

/*
 * struct bpf_iter__task_file { meta *; task_struct *task; u32 fd; file *file; } at 0, 8, 16, 24.
 *
 *   if (!ctx->file || !ctx->task) return 0;
 *   inode = ctx->file->f_inode;
 *   if ((inode->i_mode & S_IFMT) != S_IFSOCK) return 0;
 *   u32 record[2] = { inode->i_ino, ctx->task->tgid };
 *   bpf_seq_write(ctx->meta->seq, record, 8);
 *   return 0;
 */
static int assemble(struct bpf_insn *out, struct field f_inode, struct field i_mode,
                    struct field i_ino, struct field tgid) {
  int n = 0;
  int jumps[4], jump_count = 0;
  out[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_6, BPF_REG_1, 0, 0);
  out[n++] = INSN(BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_7, BPF_REG_6, 24, 0);
  jumps[jump_count++] = n;
  out[n++] = INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_7, 0, 0, 0);
  out[n++] = INSN(BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_8, BPF_REG_6, 8, 0);
  jumps[jump_count++] = n;
  out[n++] = INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_8, 0, 0, 0);
  out[n++] = INSN(BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_1, BPF_REG_7, f_inode.offset, 0);
  jumps[jump_count++] = n;
  out[n++] = INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_1, 0, 0, 0);
  out[n++] = INSN(BPF_LDX | BPF_MEM | size_code(i_mode.size), BPF_REG_2, BPF_REG_1, i_mode.offset, 0);
  out[n++] = INSN(BPF_ALU64 | BPF_AND | BPF_K, BPF_REG_2, 0, 0, 0xf000);
  jumps[jump_count++] = n;
  out[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_2, 0, 0, 0xc000);
  out[n++] = INSN(BPF_LDX | BPF_MEM | size_code(i_ino.size), BPF_REG_3, BPF_REG_1, i_ino.offset, 0);
  out[n++] = INSN(BPF_LDX | BPF_MEM | size_code(tgid.size), BPF_REG_4, BPF_REG_8, tgid.offset, 0);
  out[n++] = INSN(BPF_STX | BPF_MEM | BPF_W, BPF_REG_10, BPF_REG_3, -8, 0);
  out[n++] = INSN(BPF_STX | BPF_MEM | BPF_W, BPF_REG_10, BPF_REG_4, -4, 0);
  out[n++] = INSN(BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_1, BPF_REG_6, 0, 0);
  out[n++] = INSN(BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_1, BPF_REG_1, 0, 0);
  out[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0);
  out[n++] = INSN(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, -8);
  out[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_3, 0, 0, 8);
  out[n++] = INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_seq_write);
  int done = n;
  out[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0);
  out[n++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  for (int j = 0; j < jump_count; j++) out[jumps[j]].off = (int16_t)(done - jumps[j] - 1);
  return n;
}

static int bpf_call(int command, union bpf_attr *attr) {
  return (int)syscall(__NR_bpf, command, attr, sizeof *attr);
}

/* Loads the program and makes its iterator link; returns the link's fd, or -1 with `why`. */
static int load_iterator(char *why, size_t why_size) {
  struct btf_view btf = {0};
  int prog_fd = -1, link_fd = -1;
  struct field f_inode, i_mode, i_ino, tgid;
  struct wanted_type types[] = {{BTF_KIND_STRUCT, "file", 0},
                                {BTF_KIND_STRUCT, "inode", 0},
                                {BTF_KIND_STRUCT, "task_struct", 0},
                                {BTF_KIND_FUNC, "bpf_iter_task_file", 0}};
  if (btf_open(&btf, why, why_size)) goto out;
  btf_find(&btf, types, sizeof types / sizeof types[0]);
  if (!types[3].id) {
    snprintf(why, why_size, "kernel has no task_file iterator");
    goto out;
  }
  if (btf_field(&btf, types[0].id, "file", "f_inode", &f_inode, why, why_size) ||
      btf_field(&btf, types[1].id, "inode", "i_mode", &i_mode, why, why_size) ||
      btf_field(&btf, types[1].id, "inode", "i_ino", &i_ino, why, why_size) ||
      btf_field(&btf, types[2].id, "task_struct", "tgid", &tgid, why, why_size))
    goto out;

  struct bpf_insn program[32];
  int length = assemble(program, f_inode, i_mode, i_ino, tgid);
  char log[4096] = "";
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_TRACING;
  attr.expected_attach_type = BPF_TRACE_ITER;
  attr.attach_btf_id = types[3].id;
  attr.insns = (uint64_t)(uintptr_t)program;
  attr.insn_cnt = (uint32_t)length;
  attr.license = (uint64_t)(uintptr_t) "GPL"; /* bpf_seq_write is a GPL-only helper */
  attr.log_buf = (uint64_t)(uintptr_t)log;
  attr.log_size = sizeof log;
  attr.log_level = 1;
  memcpy(attr.prog_name, "pw_sock_fds", 12);
  prog_fd = bpf_call(BPF_PROG_LOAD, &attr);
  if (prog_fd < 0) {
    int error = errno;
    /* The verifier's last line says why. */
    size_t end = strlen(log);
    while (end && log[end - 1] == '\n') log[--end] = '\0';
    char *last = strrchr(log, '\n');
    snprintf(why, why_size, "BPF program refused: %s%s%.160s", strerror(error),
             log[0] ? ": " : "", last ? last + 1 : log);
    goto out;
  }
  memset(&attr, 0, sizeof attr);
  attr.link_create.prog_fd = (uint32_t)prog_fd;
  attr.link_create.attach_type = BPF_TRACE_ITER;
  link_fd = bpf_call(BPF_LINK_CREATE, &attr);
  if (link_fd < 0) snprintf(why, why_size, "BPF iterator link refused: %s", strerror(errno));
out:
  if (prog_fd >= 0) close(prog_fd); /* the link keeps the program */
  btf_close(&btf);
  return link_fd;
}

/* Removes the probe socket's pair; -1 unless it was there under our own pid. */
static int drop_probe(struct growable *pairs, size_t start, uint32_t probe_inode) {
  uint32_t *pair = (uint32_t *)(pairs->data + start);
  size_t count = (pairs->length - start) / 8;
  uint32_t own_pid = (uint32_t)getpid();
  int seen = -1;
  for (size_t i = 0; i < count;) {
    if (pair[2 * i] != probe_inode) {
      i++;
      continue;
    }
    if (pair[2 * i + 1] != own_pid) return -1;
    seen = 0;
    count--; /* the last pair takes its place */
    pair[2 * i] = pair[2 * count];
    pair[2 * i + 1] = pair[2 * count + 1];
    pairs->length -= 8;
  }
  return seen;
}

/* One link per process, made by the first scan; a refusal is remembered, not retried. */
static pthread_mutex_t iterator_lock = PTHREAD_MUTEX_INITIALIZER;
static int iterator_link = -1;
static char iterator_refusal[256];

int bpf_socket_fds(struct growable *pairs, char *why, size_t why_size) {
  pthread_mutex_lock(&iterator_lock);
  if (iterator_link < 0 && !iterator_refusal[0]) {
    iterator_link = load_iterator(iterator_refusal, sizeof iterator_refusal);
    if (iterator_link < 0 && !iterator_refusal[0])
      snprintf(iterator_refusal, sizeof iterator_refusal, "BPF unavailable");
  }
  int link_fd = iterator_link;
  snprintf(why, why_size, "%s", iterator_refusal);
  pthread_mutex_unlock(&iterator_lock);
  if (link_fd < 0) return -1;

  /* The iterator names processes by the kernel's (initial namespace's) pids. A socket of our
     own shows whether those are the pids our /proc uses: not in a container's pid namespace. */
  int probe = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct stat probe_stat;
  if (probe < 0 || fstat(probe, &probe_stat) < 0) {
    snprintf(why, why_size, "no probe socket: %s", strerror(errno));
    if (probe >= 0) close(probe);
    return -1;
  }
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.iter_create.link_fd = (uint32_t)link_fd;
  int iter_fd = bpf_call(BPF_ITER_CREATE, &attr);
  if (iter_fd < 0) {
    snprintf(why, why_size, "BPF iterator refused: %s", strerror(errno));
    close(probe);
    return -1;
  }
  size_t start = pairs->length;
  int result = 0;
  for (;;) {
    if (grow(pairs, READ_CHUNK)) {
      snprintf(why, why_size, "out of memory");
      result = -1;
      break;
    }
    ssize_t n = read(iter_fd, pairs->data + pairs->length, READ_CHUNK);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      /* EAGAIN: a task changed under the iterator; the walk will do. */
      snprintf(why, why_size, "BPF iterator read: %s", strerror(errno));
      result = -1;
      break;
    }
    if (n == 0) break;
    pairs->length += (size_t)n;
  }
  close(iter_fd);
  close(probe);
  if (!result) {
    pairs->length -= (pairs->length - start) % 8;
    result = drop_probe(pairs, start, (uint32_t)probe_stat.st_ino);
    if (result) {
      snprintf(why, why_size, "the kernel's pids are not this /proc's (another pid namespace)");
      pthread_mutex_lock(&iterator_lock);
      snprintf(iterator_refusal, sizeof iterator_refusal, "%s", why);
      pthread_mutex_unlock(&iterator_lock);
    }
  }
  if (result) pairs->length = start;
  return result;
}

#endif
