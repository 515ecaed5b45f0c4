/*
 * The UDP tunnel devices the kernel holds sockets for (vxlan, geneve, bareudp, gtp), from one
 * rtnetlink RTM_GETLINK dump: a socket no task holds is named by the device that opened it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <node_api.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "genl_ports.h"
#include "link_dump.h"
#include "netns.h"

/* Attribute numbers that not every kernel header names (stable kernel ABI). */
#define PW_IFLA_VXLAN_ID 1
#define PW_IFLA_VXLAN_PORT 15
#define PW_IFLA_GENEVE_ID 1
#define PW_IFLA_GENEVE_PORT 5
#define PW_IFLA_BAREUDP_PORT 1

static const struct rtattr *find_attr(const struct rtattr *first, int length, int type) {
  for (const struct rtattr *a = first; RTA_OK(a, length); a = RTA_NEXT(a, length))
    if ((a->rta_type & NLA_TYPE_MASK) == type) return a;
  return NULL;
}

static int64_t attr_u32(const struct rtattr *a) {
  uint32_t v = 0;
  if (a && RTA_PAYLOAD(a) >= 4) memcpy(&v, RTA_DATA(a), 4);
  return v;
}

/* A big-endian 16-bit port (vxlan, geneve and bareudp all store it so). */
static int64_t attr_be16(const struct rtattr *a) {
  uint16_t v = 0;
  if (!a || RTA_PAYLOAD(a) < 2) return 0;
  memcpy(&v, RTA_DATA(a), 2);
  return ntohs(v);
}

static void set_string(napi_env env, napi_value object, const char *key, const char *value) {
  napi_value v;
  napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, object, key, v);
}

static void set_number(napi_env env, napi_value object, const char *key, int64_t value) {
  napi_value v;
  if (value < 0) napi_get_null(env, &v);
  else napi_create_int64(env, value, &v);
  napi_set_named_property(env, object, key, v);
}

/* One link message: pushed to `out` when it is a UDP tunnel. */
static void add_link(napi_env env, napi_value out, uint32_t *count, struct nlmsghdr *h) {
  struct ifinfomsg *info = NLMSG_DATA(h);
  int length = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof *info);
  const struct rtattr *attrs = IFLA_RTA(info);
  const struct rtattr *name = find_attr(attrs, length, IFLA_IFNAME);
  const struct rtattr *linkinfo = find_attr(attrs, length, IFLA_LINKINFO);
  if (!name || !linkinfo) return;
  int li_len = (int)RTA_PAYLOAD(linkinfo);
  const struct rtattr *kind = find_attr(RTA_DATA(linkinfo), li_len, IFLA_INFO_KIND);
  if (!kind) return;
  const char *k = RTA_DATA(kind);
  const struct rtattr *data = find_attr(RTA_DATA(linkinfo), li_len, IFLA_INFO_DATA);
  int d_len = data ? (int)RTA_PAYLOAD(data) : 0;
  const struct rtattr *first = data ? RTA_DATA(data) : NULL;
  int64_t port = -1, id = -1;
  if (strcmp(k, "vxlan") == 0) {
    port = data ? attr_be16(find_attr(first, d_len, PW_IFLA_VXLAN_PORT)) : 4789;
    id = data ? attr_u32(find_attr(first, d_len, PW_IFLA_VXLAN_ID)) : -1;
  } else if (strcmp(k, "geneve") == 0) {
    const struct rtattr *p = data ? find_attr(first, d_len, PW_IFLA_GENEVE_PORT) : NULL;
    port = p ? attr_be16(p) : 6081;
    id = data ? attr_u32(find_attr(first, d_len, PW_IFLA_GENEVE_ID)) : -1;
  } else if (strcmp(k, "bareudp") == 0) {
    port = data ? attr_be16(find_attr(first, d_len, PW_IFLA_BAREUDP_PORT)) : -1;
  } else if (strcmp(k, "gtp") == 0) {
    port = 2152; /* GTP-U; the kernel also opens 2123 (GTP-C) when user space hands it a socket */
  } else if (strcmp(k, "wireguard") != 0) {
    return;
  }
  napi_value link;
  napi_create_object(env, &link);
  set_string(env, link, "name", RTA_DATA(name));
  set_string(env, link, "kind", k);
  set_number(env, link, "port", port);
  set_number(env, link, "id", id);
  set_number(env, link, "index", info->ifi_index);
  napi_set_element(env, out, (*count)++, link);
}

/*
 * WireGuard interfaces get their listen port (generic netlink; it needs CAP_NET_ADMIN, else the
 * port stays null), and each `ip fou` receive port is added as a link of kind "fou" or "gue"
 * (name "", id: the protocol it decapsulates).
 */
static void add_genl_ports(napi_env env, napi_value out, uint32_t *count, const char *ns_path) {
  enum { MAX_WG = 64, MAX_FOU = 64 };
  uint32_t ifindices[MAX_WG];
  uint32_t elements[MAX_WG];
  int32_t ports[MAX_WG];
  int wg = 0;
  for (uint32_t i = 0; i < *count && wg < MAX_WG; i++) {
    napi_value link, kind, index;
    char text[16];
    size_t length;
    int64_t ifindex;
    if (napi_get_element(env, out, i, &link) != napi_ok ||
        napi_get_named_property(env, link, "kind", &kind) != napi_ok ||
        napi_get_value_string_utf8(env, kind, text, sizeof text, &length) != napi_ok ||
        strcmp(text, "wireguard") != 0 ||
        napi_get_named_property(env, link, "index", &index) != napi_ok ||
        napi_get_value_int64(env, index, &ifindex) != napi_ok)
      continue;
    ifindices[wg] = (uint32_t)ifindex;
    elements[wg++] = i;
  }
  struct fou_port fou[MAX_FOU];
  int found = genl_udp_ports(ns_path, ifindices, ports, wg, fou, MAX_FOU);
  for (int i = 0; i < wg; i++) {
    napi_value link;
    if (ports[i] > 0 && napi_get_element(env, out, elements[i], &link) == napi_ok)
      set_number(env, link, "port", ports[i]);
  }
  for (int i = 0; i < found; i++) {
    napi_value link;
    napi_create_object(env, &link);
    set_string(env, link, "name", "");
    set_string(env, link, "kind", fou[i].gue ? "gue" : "fou");
    set_number(env, link, "port", fou[i].port);
    set_number(env, link, "id", fou[i].gue ? -1 : fou[i].ipproto);
    set_number(env, link, "index", -1);
    napi_set_element(env, out, (*count)++, link);
  }
}

/*
 * listUdpTunnels([nsPath]): [{name, kind, port, id, index}]; port null where the kernel does not
 * say. nsPath (an nsfs file) asks that network namespace's links instead of this one's.
 */
napi_value list_udp_tunnels(napi_env env, napi_callback_info cb) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, cb, &argc, argv, NULL, NULL);
  char ns_path[256] = "";
  napi_valuetype type = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &type);
  size_t length = 0;
  if (type == napi_string &&
      (napi_get_value_string_utf8(env, argv[0], ns_path, sizeof ns_path, &length) != napi_ok ||
       length >= sizeof ns_path - 1)) {
    napi_throw_type_error(env, NULL, "listUdpTunnels([nsPath])");
    return NULL;
  }
  napi_value out;
  napi_create_array(env, &out);
  int fd = netlink_socket_in(NETLINK_ROUTE, ns_path);
  if (fd < 0) return out;
  struct {
    struct nlmsghdr h;
    struct ifinfomsg i;
  } request = {0};
  request.h.nlmsg_len = NLMSG_LENGTH(sizeof request.i);
  request.h.nlmsg_type = RTM_GETLINK;
  request.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  request.h.nlmsg_seq = 1;
  request.i.ifi_family = AF_UNSPEC;
  if (send(fd, &request, request.h.nlmsg_len, 0) < 0) {
    close(fd);
    return out;
  }
  static __thread char buffer[65536];
  uint32_t count = 0;
  for (int done = 0; !done;) {
    ssize_t got = recv(fd, buffer, sizeof buffer, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buffer; NLMSG_OK(h, (size_t)got);
         h = NLMSG_NEXT(h, got)) {
      if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
        done = 1;
        break;
      }
      if (h->nlmsg_type == RTM_NEWLINK) add_link(env, out, &count, h);
    }
  }
  close(fd);
  add_genl_ports(env, out, &count, ns_path);
  return out;
}
