#ifndef PORTWARDEN_RENDER_JSON_H
#define PORTWARDEN_RENDER_JSON_H
#include <node_api.h>

/* renderSocketsJson(records, pairs, holderPids, holderJson, uids, userJson) (render_json.c). */
napi_value render_sockets_json(napi_env env, napi_callback_info info);

#endif
