/* watchdog.c: the time budget, whatever the policy does.
 *
 * The count hook checks the clock every hook_every instructions, but one
 * instruction can be slow: a comparison or a concatenation of long strings
 * (a comparison of strings full of NULs runs strcoll once per segment),
 * and a thousand of them between two hooks would let a policy run seconds
 * past its slice. So each thread that resumes policies has a POSIX timer
 * (CLOCK_MONOTONIC, delivered to that thread) set to the running slice's
 * deadline. Its signal handler makes the count hook fire at the next
 * instruction (lua_sethook may be called from a signal handler: see
 * ldebug.c), and the hook kills the channel. The overshoot is then one
 * instruction, bounded by the memory budget (docs/policies.md).
 *
 * Arming costs a system call only when no earlier expiry is pending: a
 * signal that comes while a later slice runs moves the timer to that
 * slice's deadline, and one that comes while no slice runs is dropped. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#include "core/acs_log.h"
#include "script/script_internal.h"

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

typedef struct acs__wd {
  timer_t id;
  pid_t tid;
  bool made, failed;
  volatile sig_atomic_t armed;
  uint64_t expiry;
  acs_script_vm *volatile vm; /* the VM running a slice on this thread */
} acs__wd;

static __thread acs__wd wd;
static pthread_once_t wd_once = PTHREAD_ONCE_INIT;
static pthread_key_t wd_key;
static bool wd_ok;

static int wd_signal(void) { return SIGRTMIN + 6; }

static void wd_set(uint64_t at_ns) {
  struct itimerspec its = {{0, 0}, {(time_t)(at_ns / 1000000000u), (long)(at_ns % 1000000000u)}};
  if (timer_settime(wd.id, TIMER_ABSTIME, &its, NULL) == 0) {
    wd.expiry = at_ns;
    wd.armed = 1;
  }
}

static void wd_handler(int sig) {
  (void)sig;
  int saved = errno;
  wd.armed = 0;
  acs_script_vm *vm = wd.vm;
  acs_script_run *run = vm ? vm->cur : NULL;
  lua_State *L = run ? run->cur_L : NULL;
  if (L) {
    if (acs__mono_ns() >= run->deadline_ns)
      lua_sethook(L, acs__hook, LUA_MASKCOUNT, 1);
    else
      wd_set(run->deadline_ns);
  }
  errno = saved;
}

static void wd_thread_end(void *p) {
  (void)p;
  if (wd.made) timer_delete(wd.id);
  wd.made = false;
}

static void wd_init(void) {
  struct sigaction sa;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sa.sa_handler = wd_handler;
  wd_ok = sigaction(wd_signal(), &sa, NULL) == 0 && pthread_key_create(&wd_key, wd_thread_end) == 0;
  if (!wd_ok) acs_log(ACS_LOG_WARN, "script", "no watchdog: time budgets checked by the hook only");
}

/* The timer of this thread (made on first use). */
static bool wd_ready(void) {
  if (wd.made) return true; /* (a forked child's copy fails to set: no watchdog there) */
  if (wd.failed) return false;
  pid_t tid = gettid();
  pthread_once(&wd_once, wd_init);
  if (!wd_ok) {
    wd.failed = true;
    return false;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, wd_signal());
  pthread_sigmask(SIG_UNBLOCK, &set, NULL);
  struct sigevent sev = {0};
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = wd_signal();
  sev.sigev_notify_thread_id = tid;
  if (timer_create(CLOCK_MONOTONIC, &sev, &wd.id) != 0) {
    wd.failed = true;
    acs_log(ACS_LOG_WARN, "script", "no watchdog timer: time budgets checked by the hook only");
    return false;
  }
  wd.made = true;
  wd.tid = tid;
  wd.armed = 0;
  pthread_setspecific(wd_key, &wd);
  return true;
}

void acs__watchdog_arm(acs_script_vm *vm, uint64_t deadline_ns) {
  wd.vm = vm;
  if (!wd_ready()) return;
  if (wd.armed && wd.expiry <= deadline_ns) return; /* it fires first, then moves */
  wd_set(deadline_ns);
}

void acs__watchdog_disarm(acs_script_vm *vm) {
  (void)vm;
  wd.vm = NULL;
}
