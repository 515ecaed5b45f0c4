#ifndef PORTWARDEN_BPF_SOCKET_FDS_H
#define PORTWARDEN_BPF_SOCKET_FDS_H
#include "growable.h"

/*
 * Appends (u32 inode, u32 tgid) for every socket fd of every process, unsorted, with repeats
 * (threads with their own fd table, the same socket twice in one process). Returns 0, or -1 with
 * the reason in `why` when the kernel or our privileges do not allow it. Thread-safe; the
 * program is loaded once per process and kept.
 */
int bpf_socket_fds(struct growable *pairs, char *why, size_t why_size);

#endif
