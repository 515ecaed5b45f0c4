#ifndef PORTWARDEN_NETNS_H
#define PORTWARDEN_NETNS_H
/*
 * A netlink socket of `protocol` in the network namespace of `ns_path` (an nsfs file such as
 * /run/netns/NAME or /proc/PID/ns/net; NULL or "" for this thread's own): the fd, or -errno.
 */
int netlink_socket_in(int protocol, const char *ns_path);
#endif
