/*
 * `portwarden list --json` for a full listing, made in C from the sock_diag records and the
 * holder scan's pairs: at 100k sockets the JavaScript objects, their sort and the 40 MB of JSON
 * text cost more than the kernel's work. The bytes are exactly those of wire.ts's
 * socketsJsonChunks over the sorted SocketEntry list (a property test compares the two):
 *
 *   renderSocketsJson(records, pairs, holderPids, holderJson, uids, userJson)
 *     -> { json: Buffer, hidden: number }
 *
 * records: RECORD_SIZE-byte sock_diag records (records.h); pairs: (inode, pid)
 * sorted by inode then pid; holderPids (ascending) with each holder's JSON text; uids
 * (ascending) with each user name's JSON text. A pid without JSON (it exited, or was unreadable)
 * is left out of `processes`, as ProcessReader leaves it out. `hidden` counts the sockets that
 * have an inode, are not TIME-WAIT, and show no holder (list-sockets.ts warns about them).
 */
#define _GNU_SOURCE
#include "render_json.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "growable.h"
#include "records.h"

#define IPPROTO_TCP_ 6
#define AF_INET_ 2

/* TCP states 1..12 as `ss` names them (types.ts SOCKET_STATES). */
static const char *const TCP_STATES[] = {"ESTAB",      "SYN-SENT",  "SYN-RECV",   "FIN-WAIT-1",
                                         "FIN-WAIT-2", "TIME-WAIT", "UNCONN",     "CLOSE-WAIT",
                                         "LAST-ACK",   "LISTEN",    "CLOSING",    "NEW-SYN-RECV"};

static const char *state_name(uint8_t protocol, uint8_t state) {
  if (protocol != IPPROTO_TCP_) return state == 1 ? "ESTAB" : state == 7 ? "UNCONN" : "UNKNOWN";
  return state >= 1 && state <= 12 ? TCP_STATES[state - 1] : "UNKNOWN";
}

/* Writes `value` in decimal at `out`; returns the end. (sprintf costs ~10x more per call.) */
static char *put_uint(char *out, uint32_t value) {
  char digits[10];
  int n = 0;
  do {
    digits[n++] = (char)('0' + value % 10);
    value /= 10;
  } while (value);
  while (n) *out++ = digits[--n];
  return out;
}

static char *put_hex(char *out, unsigned value) {
  static const char HEX[] = "0123456789abcdef";
  int shift = 12;
  while (shift > 0 && !(value >> shift)) shift -= 4;
  for (; shift >= 0; shift -= 4) *out++ = HEX[(value >> shift) & 15];
  return out;
}

static char *put_quad(char *out, const uint8_t *bytes) {
  for (int i = 0; i < 4; i++) {
    if (i) *out++ = '.';
    out = put_uint(out, bytes[i]);
  }
  return out;
}

/* inet-address.ts formatIPv6Bytes / the IPv4 dotted quad, byte for byte; NUL-terminated. */
static void format_address(const uint8_t *bytes, int ipv4, char *out) {
  if (ipv4) {
    *put_quad(out, bytes) = '\0';
    return;
  }
  unsigned groups[8];
  for (int i = 0; i < 8; i++) groups[i] = (unsigned)(bytes[2 * i] << 8 | bytes[2 * i + 1]);
  if (!groups[0] && !groups[1] && !groups[2] && !groups[3] && !groups[4] && groups[5] == 0xffff) {
    memcpy(out, "::ffff:", 7);
    *put_quad(out + 7, bytes + 12) = '\0';
    return;
  }
  int best_start = -1, best_length = 1; /* the longest run of 2+ zero groups; first on a tie */
  for (int i = 0; i < 8;) {
    if (groups[i]) {
      i++;
      continue;
    }
    int j = i;
    while (j < 8 && !groups[j]) j++;
    if (j - i > best_length) {
      best_start = i;
      best_length = j - i;
    }
    i = j;
  }
  char *at = out;
  for (int i = 0; i < 8; i++) {
    if (i == best_start) {
      *at++ = ':';
      *at++ = ':';
      i += best_length - 1;
      continue;
    }
    if (i > 0 && i != best_start + best_length) *at++ = ':';
    at = put_hex(at, groups[i]);
  }
  *at = '\0';
}

struct row {
  const uint8_t *record;
  uint32_t key; /* protocol, port, family: list-sockets.ts sortSockets's numeric key */
  uint32_t index;
  char local[48];
};

static uint16_t u16_at(const uint8_t *p) {
  uint16_t v;
  memcpy(&v, p, 2);
  return v;
}

static uint32_t u32_at(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* sortSockets: the key, then local address text, remote port, inode; stable. */
static int compare_rows(const void *a, const void *b) {
  const struct row *x = a, *y = b;
  if (x->key != y->key) return x->key < y->key ? -1 : 1;
  int text = strcmp(x->local, y->local);
  if (text) return text < 0 ? -1 : 1;
  uint16_t xr = u16_at(x->record + 6), yr = u16_at(y->record + 6);
  if (xr != yr) return xr < yr ? -1 : 1;
  uint32_t xi = u32_at(x->record + 12), yi = u32_at(y->record + 12);
  if (xi != yi) return xi < yi ? -1 : 1;
  return x->index < y->index ? -1 : x->index > y->index;
}

static long find_u32(const uint32_t *list, size_t count, uint32_t value) {
  size_t low = 0, high = count;
  while (low < high) {
    size_t mid = (low + high) / 2;
    if (list[mid] == value) return (long)mid;
    if (list[mid] < value) low = mid + 1;
    else high = mid;
  }
  return -1;
}

struct texts {
  char **text;
  size_t *length;
  uint32_t count;
};

static void free_texts(struct texts *t) {
  for (uint32_t i = 0; t->text && i < t->count; i++) free(t->text[i]);
  free(t->text);
  free(t->length);
}

/* A JavaScript array of strings, copied as UTF-8. */
static int read_texts(napi_env env, napi_value array, uint32_t expected, struct texts *out) {
  uint32_t count;
  if (napi_get_array_length(env, array, &count) != napi_ok || count != expected) return -1;
  out->count = count;
  out->text = calloc(count + 1, sizeof *out->text);
  out->length = calloc(count + 1, sizeof *out->length);
  if (!out->text || !out->length) return -1;
  for (uint32_t i = 0; i < count; i++) {
    napi_value item;
    size_t length;
    if (napi_get_element(env, array, i, &item) != napi_ok ||
        napi_get_value_string_utf8(env, item, NULL, 0, &length) != napi_ok)
      return -1;
    out->text[i] = malloc(length + 1);
    if (!out->text[i] ||
        napi_get_value_string_utf8(env, item, out->text[i], length + 1, &length) != napi_ok)
      return -1;
    out->length[i] = length;
  }
  return 0;
}

static int append(struct growable *out, const char *text, size_t length) {
  if (grow(out, length)) return -1;
  memcpy(out->data + out->length, text, length);
  out->length += length;
  return 0;
}

static void free_buffer(napi_env env, void *data, void *hint) { free(data); }

static napi_value fail(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

napi_value render_sockets_json(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint8_t *records;
  size_t records_length;
  napi_typedarray_type type;
  size_t pair_count, pid_count, uid_count;
  void *pairs_data, *pids_data, *uids_data;
  bool is_buffer = false;
  if (argc < 6 || napi_is_buffer(env, argv[0], &is_buffer) != napi_ok || !is_buffer ||
      napi_get_buffer_info(env, argv[0], (void **)&records, &records_length) != napi_ok ||
      napi_get_typedarray_info(env, argv[1], &type, &pair_count, &pairs_data, NULL, NULL) !=
          napi_ok ||
      type != napi_uint32_array ||
      napi_get_typedarray_info(env, argv[2], &type, &pid_count, &pids_data, NULL, NULL) !=
          napi_ok ||
      type != napi_uint32_array ||
      napi_get_typedarray_info(env, argv[4], &type, &uid_count, &uids_data, NULL, NULL) !=
          napi_ok ||
      type != napi_uint32_array) {
    napi_throw_type_error(env, NULL,
                          "renderSocketsJson(records: Buffer, pairs, holderPids, holderJson: "
                          "string[], uids, userJson: string[])");
    return NULL;
  }
  const uint32_t *pairs = pairs_data, *pids = pids_data, *uids = uids_data;
  pair_count /= 2;
  struct texts holders = {0}, users = {0};
  size_t count = records_length / RECORD_SIZE;
  struct row *rows = malloc((count + 1) * sizeof *rows);
  struct growable out = {0};
  napi_value result = NULL;
  if (read_texts(env, argv[3], (uint32_t)pid_count, &holders) ||
      read_texts(env, argv[5], (uint32_t)uid_count, &users)) {
    fail(env, "renderSocketsJson: holderJson and userJson must be strings, one per pid and uid");
    goto done;
  }
  if (!rows) {
    fail(env, "renderSocketsJson: out of memory");
    goto done;
  }
  for (size_t i = 0; i < count; i++) {
    const uint8_t *record = records + i * RECORD_SIZE;
    rows[i].record = record;
    rows[i].index = (uint32_t)i;
    rows[i].key = (record[0] == IPPROTO_TCP_ ? 0 : 1u << 18) + u16_at(record + 4) * 2u +
                  (record[1] == AF_INET_ ? 0 : 1);
    format_address(record + 16, record[1] == AF_INET_, rows[i].local);
  }
  qsort(rows, count, sizeof *rows, compare_rows);

  uint32_t hidden = 0;
  char piece[512], remote[48];
  if (grow(&out, count * 256 + 64) || append(&out, "[", 1)) goto oom; /* ~ the size it ends */
  for (size_t i = 0; i < count; i++) {
    const uint8_t *record = rows[i].record;
    int ipv4 = record[1] == AF_INET_;
    const char *state = state_name(record[0], record[2]);
    uint32_t uid = u32_at(record + 8), inode = u32_at(record + 12);
    format_address(record + 32, ipv4, remote);
    /* The record's fixed part: at most ~330 bytes, built in `piece`. */
    char *at = piece;
#define PUT(text) (memcpy(at, text, sizeof text - 1), at += sizeof text - 1)
#define PUT_TEXT(text) (at = stpcpy(at, text))
    if (i) *at++ = ',';
    PUT("{\"protocol\":\"");
    PUT_TEXT(record[0] == IPPROTO_TCP_ ? "tcp" : "udp");
    PUT("\",\"family\":\"");
    PUT_TEXT(ipv4 ? "ipv4" : "ipv6");
    PUT("\",\"state\":\"");
    PUT_TEXT(state);
    PUT("\",\"local_address\":\"");
    PUT_TEXT(rows[i].local);
    PUT("\",\"local_port\":");
    at = put_uint(at, u16_at(record + 4));
    PUT(",\"remote_address\":\"");
    PUT_TEXT(remote);
    PUT("\",\"remote_port\":");
    at = put_uint(at, u16_at(record + 6));
    PUT(",\"inode\":");
    at = put_uint(at, inode);
    PUT(",\"uid\":");
    at = put_uint(at, uid);
    PUT(",\"user\":");
#undef PUT
#undef PUT_TEXT
    if (append(&out, piece, (size_t)(at - piece))) goto oom;
    long user = find_u32(uids, uid_count, uid);
    if (user >= 0) {
      if (append(&out, users.text[user], users.length[user])) goto oom;
    } else {
      at = piece;
      *at++ = '"';
      at = put_uint(at, uid);
      *at++ = '"';
      if (append(&out, piece, (size_t)(at - piece))) goto oom;
    }
    if (append(&out, ",\"processes\":[", 14)) goto oom;
    int shown = 0;
    if (inode != 0) {
      size_t low = 0, high = pair_count; /* the first pair with this inode */
      while (low < high) {
        size_t mid = (low + high) / 2;
        if (pairs[2 * mid] < inode) low = mid + 1;
        else high = mid;
      }
      for (size_t p = low; p < pair_count && pairs[2 * p] == inode; p++) {
        long holder = find_u32(pids, pid_count, pairs[2 * p + 1]);
        if (holder < 0) continue;
        if ((shown && append(&out, ",", 1)) ||
            append(&out, holders.text[holder], holders.length[holder]))
          goto oom;
        shown++;
      }
    }
    if (!shown && inode != 0 && strcmp(state, "TIME-WAIT") != 0) hidden++;
    if (append(&out, "]}", 2)) goto oom;
  }
  if (append(&out, "]", 1)) goto oom;

  napi_value json, hidden_value;
  if (napi_create_external_buffer(env, out.length, out.data, free_buffer, NULL, &json) !=
      napi_ok) {
    /* Some runtimes refuse external buffers: copy instead. */
    void *copy;
    if (napi_create_buffer_copy(env, out.length, out.data, &copy, &json) != napi_ok) goto oom;
    free(out.data);
  }
  out.data = NULL;
  napi_create_object(env, &result);
  napi_create_uint32(env, hidden, &hidden_value);
  napi_set_named_property(env, result, "json", json);
  napi_set_named_property(env, result, "hidden", hidden_value);
  goto done;
oom:
  fail(env, "renderSocketsJson: out of memory");
done:
  free(out.data);
  free(rows);
  free_texts(&holders);
  free_texts(&users);
  return result;
}
