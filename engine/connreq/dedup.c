/* dedup.c: the devices with a connection request in flight in this process
 * (connreq_internal.h): a chained hash set behind one mutex, held for a
 * lookup only. Across instances the store's connreq_claims does the same. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "connreq/connreq_internal.h"

#define NBUCKETS 4096

typedef struct entry {
  struct entry *next;
  char id[];
} entry;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static entry *buckets[NBUCKETS];

static unsigned bucket(const char *s) {
  unsigned h = 2166136261u;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
  return h % NBUCKETS;
}

bool acs__connreq_claim_local(const char *device_id) {
  unsigned b = bucket(device_id);
  size_t n = strlen(device_id);
  entry *e = malloc(sizeof *e + n + 1);
  pthread_mutex_lock(&mu);
  for (entry *x = buckets[b]; x; x = x->next) {
    if (strcmp(x->id, device_id) == 0) {
      pthread_mutex_unlock(&mu);
      free(e);
      return false;
    }
  }
  if (e) { /* out of memory: no local de-duplication, the store's still holds */
    memcpy(e->id, device_id, n + 1);
    e->next = buckets[b];
    buckets[b] = e;
  }
  pthread_mutex_unlock(&mu);
  return true;
}

void acs__connreq_release_local(const char *device_id) {
  unsigned b = bucket(device_id);
  pthread_mutex_lock(&mu);
  for (entry **p = &buckets[b]; *p; p = &(*p)->next) {
    if (strcmp((*p)->id, device_id) == 0) {
      entry *e = *p;
      *p = e->next;
      free(e);
      break;
    }
  }
  pthread_mutex_unlock(&mu);
}
