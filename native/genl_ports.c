/*
 * In-kernel UDP port users that rtnetlink does not describe, asked over generic netlink: the
 * WireGuard family (WG_CMD_GET_DEVICE: an interface's listen port) and the fou family
 * (FOU_CMD_GET: `ip fou` receive ports). A family that is not registered (module not loaded)
 * answers ENOENT to the controller: nothing to ask, nothing found.
 */
#define _GNU_SOURCE
#include "genl_ports.h"
#include "netns.h"

#include <errno.h>
#include <linux/fou.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/wireguard.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define GENL_BUFFER 16384

struct request {
  struct nlmsghdr h;
  struct genlmsghdr g;
  char attrs[64];
};

static const struct nlattr *next_attr(const struct nlattr *a, int *left) {
  int step = NLA_ALIGN(a->nla_len);
  *left -= step;
  return (const struct nlattr *)((const char *)a + step);
}

static int attr_ok(const struct nlattr *a, int left) {
  return left >= (int)sizeof *a && a->nla_len >= sizeof *a && a->nla_len <= left;
}

/* Sends a request with at most one attribute; 0 or errno. */
static int send_request(int fd, uint16_t type, uint8_t cmd, uint16_t flags, uint16_t attr_type,
                        const void *value, uint16_t value_len, uint32_t seq) {
  struct request r;
  memset(&r, 0, sizeof r);
  r.h.nlmsg_type = type;
  r.h.nlmsg_flags = NLM_F_REQUEST | flags;
  r.h.nlmsg_seq = seq;
  r.g.cmd = cmd;
  r.g.version = 1;
  size_t length = NLMSG_LENGTH(GENL_HDRLEN);
  if (value_len > 0 && value_len <= sizeof r.attrs - NLA_HDRLEN) {
    struct nlattr *a = (struct nlattr *)r.attrs;
    a->nla_type = attr_type;
    a->nla_len = NLA_HDRLEN + value_len;
    memcpy((char *)a + NLA_HDRLEN, value, value_len);
    length += NLA_ALIGN(a->nla_len);
  }
  r.h.nlmsg_len = (uint32_t)length;
  return send(fd, &r, length, 0) < 0 ? errno : 0;
}

typedef void (*on_message)(const struct nlattr *attrs, int length, void *context);

/* Reads the answers to `seq` until the last (DONE, an error, or a reply that is not a dump). */
static int read_answers(int fd, uint32_t seq, int dump, on_message each, void *context,
                        char *buffer) {
  for (;;) {
    ssize_t got = recv(fd, buffer, GENL_BUFFER, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return got < 0 ? errno : EIO;
    int left = (int)got;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buffer; NLMSG_OK(h, (unsigned)left);
         h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_seq != seq) continue;
      if (h->nlmsg_type == NLMSG_DONE) return 0;
      if (h->nlmsg_type == NLMSG_ERROR) {
        const struct nlmsgerr *e = NLMSG_DATA(h);
        return e->error ? -e->error : 0;
      }
      const char *payload = (const char *)NLMSG_DATA(h) + GENL_HDRLEN;
      int length = (int)h->nlmsg_len - (int)NLMSG_LENGTH(GENL_HDRLEN);
      if (length >= 0) each((const struct nlattr *)payload, length, context);
      if (!dump) return 0;
    }
  }
}

static void take_family_id(const struct nlattr *a, int left, void *context) {
  for (; attr_ok(a, left); a = next_attr(a, &left))
    if ((a->nla_type & NLA_TYPE_MASK) == CTRL_ATTR_FAMILY_ID && a->nla_len >= NLA_HDRLEN + 2)
      memcpy(context, (const char *)a + NLA_HDRLEN, 2);
}

/* The family's id, or 0 when it is not registered (its module is not loaded). */
static uint16_t family_id(int fd, const char *name, uint32_t seq, char *buffer) {
  uint16_t id = 0;
  if (send_request(fd, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 0, CTRL_ATTR_FAMILY_NAME, name,
                   (uint16_t)(strlen(name) + 1), seq) != 0)
    return 0;
  if (read_answers(fd, seq, 0, take_family_id, &id, buffer) != 0) return 0;
  return id;
}

static void take_listen_port(const struct nlattr *a, int left, void *context) {
  for (; attr_ok(a, left); a = next_attr(a, &left))
    if ((a->nla_type & NLA_TYPE_MASK) == WGDEVICE_A_LISTEN_PORT && a->nla_len >= NLA_HDRLEN + 2) {
      uint16_t port;
      memcpy(&port, (const char *)a + NLA_HDRLEN, 2);
      *(int32_t *)context = port;
    }
}

struct fou_list {
  struct fou_port *ports;
  int capacity, count;
};

static void take_fou(const struct nlattr *a, int left, void *context) {
  struct fou_list *list = context;
  struct fou_port found = {0};
  int has_port = 0;
  for (; attr_ok(a, left); a = next_attr(a, &left)) {
    const char *value = (const char *)a + NLA_HDRLEN;
    int size = a->nla_len - NLA_HDRLEN;
    switch (a->nla_type & NLA_TYPE_MASK) {
      case FOU_ATTR_PORT:
        if (size >= 2) {
          uint16_t be;
          memcpy(&be, value, 2);
          found.port = ntohs(be);
          has_port = 1;
        }
        break;
      case FOU_ATTR_AF:
        if (size >= 1) found.family = (uint8_t)value[0];
        break;
      case FOU_ATTR_IPPROTO:
        if (size >= 1) found.ipproto = (uint8_t)value[0];
        break;
      case FOU_ATTR_TYPE:
        if (size >= 1) found.gue = value[0] == FOU_ENCAP_GUE;
        break;
    }
  }
  if (has_port && list->count < list->capacity) list->ports[list->count++] = found;
}

int genl_udp_ports(const char *ns_path, const uint32_t *ifindices, int32_t *ports, int count,
                   struct fou_port *fou, int fou_capacity) {
  for (int i = 0; i < count; i++) ports[i] = -1;
  int fd = netlink_socket_in(NETLINK_GENERIC, ns_path);
  if (fd < 0) return 0;
  static __thread char buffer[GENL_BUFFER];
  uint32_t seq = 1;
  uint16_t wireguard = count > 0 ? family_id(fd, WG_GENL_NAME, seq++, buffer) : 0;
  for (int i = 0; wireguard && i < count; i++) {
    if (send_request(fd, wireguard, WG_CMD_GET_DEVICE, NLM_F_DUMP, WGDEVICE_A_IFINDEX,
                     &ifindices[i], 4, seq) == 0)
      read_answers(fd, seq, 1, take_listen_port, &ports[i], buffer);
    seq++;
  }
  struct fou_list list = {fou, fou_capacity, 0};
  uint16_t fou_family = family_id(fd, FOU_GENL_NAME, seq++, buffer);
  if (fou_family && send_request(fd, fou_family, FOU_CMD_GET, NLM_F_DUMP, 0, NULL, 0, seq) == 0)
    read_answers(fd, seq, 1, take_fou, &list, buffer);
  close(fd);
  return list.count;
}
