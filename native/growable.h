/* A byte buffer that doubles as it fills; shared by the addon's parts. */
#ifndef PORTWARDEN_GROWABLE_H
#define PORTWARDEN_GROWABLE_H
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

struct growable {
  uint8_t *data;
  size_t length;
  size_t capacity;
};

static inline int grow(struct growable *g, size_t extra) {
  if (g->length + extra <= g->capacity) return 0;
  size_t capacity = g->capacity ? g->capacity * 2 : 64 * 1024;
  while (capacity < g->length + extra) capacity *= 2;
  uint8_t *data = realloc(g->data, capacity);
  if (!data) return -1;
  g->data = data;
  g->capacity = capacity;
  return 0;
}

#endif
