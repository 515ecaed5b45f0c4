#ifndef PORTWARDEN_LINK_DUMP_H
#define PORTWARDEN_LINK_DUMP_H
#include <node_api.h>
napi_value list_udp_tunnels(napi_env env, napi_callback_info cb);
#endif
