/*
 * A socket belongs to the network namespace of the thread that created it, and keeps it. So a
 * short-lived thread enters the namespace (setns changes only the calling thread's), creates the
 * netlink socket and ends; the caller then dumps through that socket as usual, from any thread,
 * and the rest of the process never leaves its own namespace.
 */
#define _GNU_SOURCE
#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

struct entry {
  int ns_fd;
  int protocol;
  int result; /* the socket, or -errno */
};

static void *enter_and_open(void *data) {
  struct entry *entry = data;
  if (setns(entry->ns_fd, CLONE_NEWNET) != 0) {
    entry->result = -errno;
    return NULL;
  }
  int sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, entry->protocol);
  entry->result = sock >= 0 ? sock : -errno;
  return NULL;
}

int netlink_socket_in(int protocol, const char *ns_path) {
  if (!ns_path || !*ns_path) {
    int sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
    return sock >= 0 ? sock : -errno;
  }
  int ns_fd = open(ns_path, O_RDONLY | O_CLOEXEC);
  if (ns_fd < 0) return -errno;
  struct entry entry = {ns_fd, protocol, -EINVAL};
  pthread_t thread;
  int error = pthread_create(&thread, NULL, enter_and_open, &entry);
  if (error == 0) pthread_join(thread, NULL);
  else entry.result = -error;
  close(ns_fd);
  return entry.result;
}
