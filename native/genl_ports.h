#ifndef PORTWARDEN_GENL_PORTS_H
#define PORTWARDEN_GENL_PORTS_H
#include <stdint.h>

/* A fou/GUE receive port (`ip fou add port P ...`). */
struct fou_port {
  uint16_t port;
  uint8_t family; /* AF_INET or AF_INET6 */
  uint8_t ipproto; /* the protocol it decapsulates (4: IPIP, 41: IPv6...; 0 for GUE) */
  uint8_t gue;     /* 1: GUE, 0: direct FOU */
};

/*
 * Through one NETLINK_GENERIC socket in the namespace of `ns_path` (NULL or "": this one's):
 * each WireGuard interface's listen port (`ports[i]` for `ifindices[i]`; -1 where unknown: no
 * module, no CAP_NET_ADMIN), and up to `fou_capacity` fou ports. Returns how many fou ports were
 * found (0 when the fou family is absent or refuses).
 */
int genl_udp_ports(const char *ns_path, const uint32_t *ifindices, int32_t *ports, int count,
                   struct fou_port *fou, int fou_capacity);
#endif
