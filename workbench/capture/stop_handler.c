/*
 * The capture's hot path: each KVM_RUN's ptrace stop, handled without Python.
 *
 * A VMM re-enters KVM_RUN after every exit, and `workbench capture` stops it there once to
 * read the previous exit from the vCPU's kvm_run (tracer.py explains why one stop gives
 * both the exit and the VMM's completion). Done in Python, that read costs several times
 * the stop itself; here it is a pread into a record buffer, and the vCPU runs on at once.
 * Python decodes the records later (vmm_memory.decode_exit), off the VMM's critical path.
 *
 * wb_wait() waits for the next ptrace stop and handles it here when it is the KVM_RUN
 * entry of a vCPU that tracer.py has made hot (slot with run_addr and memfd) in the table
 * it shares with Python; anything else (every other stop, exits, a first KVM_RUN) goes
 * back to Python in t->tid / t->status. The rule applied here is tracer.py's
 * `_run_entered`: record the runner's previous exit, then this thread is the runner.
 * Only libc headers: every KVM constant comes from Python in the table.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WB_VCPUS 256
#define WB_THREADS 1024
#define WB_HEAD_MAX 512
#define SYS_IOCTL 16
#define GET_SYSCALL_INFO 0x420e
#define INFO_SECCOMP 3
#define EVENT_SECCOMP 7
#define SLICE_NS 50000000   /* the longest Python waits to see a signal: 50 ms */

struct wb_vcpu {            /* one slot per vCPU fd; hot when run_addr and memfd are set */
    int32_t tgid, fd, runner, memfd;
    int32_t index, pad;     /* the vCPU's index, for Python's events only */
    uint64_t run_addr;
};

struct wb_thread {
    int32_t tid, tgid;
};

struct wb_record {          /* then head_size bytes of kvm_run, io_len bytes, padding to 8 */
    double t;
    int32_t tid, slot, err;
    uint32_t io_len;
};

struct wb_table {
    uint32_t kvm_run, exit_io;               /* KVM_RUN's request, KVM_EXIT_IO */
    uint32_t head_size, exit_offset, io_max; /* kvm_run bytes per record, its union, IO cap */
    int32_t tid, status;                     /* the stop handed to Python */
    int32_t nvcpus, nthreads;
    uint32_t out_used, out_cap;
    uint8_t *out;
    double spin;                             /* seconds to poll before sleeping in waitpid */
    struct wb_vcpu vcpus[WB_VCPUS];
    struct wb_thread threads[WB_THREADS];
};

struct syscall_info {       /* struct ptrace_syscall_info, seccomp member (x86-64) */
    uint8_t op, pad[3];
    uint32_t arch;
    uint64_t ip, sp, nr, args[6];
    uint32_t ret_data;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static struct wb_vcpu *hot_vcpu(struct wb_table *t, int32_t tid, int32_t fd)
{
    int32_t tgid = 0;
    for (int32_t i = 0; i < t->nthreads && !tgid; i++)
        if (t->threads[i].tid == tid)
            tgid = t->threads[i].tgid;
    for (int32_t i = 0; tgid && i < t->nvcpus; i++) {
        struct wb_vcpu *v = &t->vcpus[i];
        if (v->tgid == tgid && v->fd == fd)
            return v->run_addr && v->memfd >= 0 ? v : NULL;
    }
    return NULL;
}

static int32_t read_at(int fd, uint8_t *buf, uint32_t size, uint64_t addr)
{
    ssize_t n = pread(fd, buf, size, (off_t)addr);
    return n == (ssize_t)size ? 0 : n < 0 ? errno : EIO;
}

static void record_exit(struct wb_table *t, struct wb_vcpu *v, pid_t tid)
{
    struct wb_record *r = (struct wb_record *)(t->out + t->out_used);
    uint8_t *head = (uint8_t *)(r + 1);
    r->t = now();
    r->tid = tid;
    r->slot = (int32_t)(v - t->vcpus);
    r->io_len = 0;
    r->err = read_at(v->memfd, head, t->head_size, v->run_addr);
    if (!r->err && *(uint32_t *)(head + 8) == t->exit_io) {
        const uint8_t *io = head + t->exit_offset;   /* direction, size, port, count, offset */
        uint32_t len = io[1] * *(const uint32_t *)(io + 4);
        len = len < t->io_max ? len : t->io_max;
        r->err = read_at(v->memfd, head + t->head_size, len,
                         v->run_addr + *(const uint64_t *)(io + 8));
        r->io_len = r->err ? 0 : len;
    }
    t->out_used += sizeof(*r) + t->head_size + ((r->io_len + 7) & ~7u);   /* 8-aligned */
}

static int handled(struct wb_table *t, pid_t tid, int status)
{
    struct syscall_info info;
    if (!WIFSTOPPED(status) || status >> 8 != (SIGTRAP | EVENT_SECCOMP << 8))
        return 0;
    if (ptrace(GET_SYSCALL_INFO, tid, sizeof(info), &info) <= 0 || info.op != INFO_SECCOMP)
        return 0;
    if (info.nr != SYS_IOCTL || (uint32_t)info.args[1] != t->kvm_run)
        return 0;
    struct wb_vcpu *v = hot_vcpu(t, tid, (int32_t)info.args[0]);
    if (!v)
        return 0;
    if (v->runner)
        record_exit(t, v, tid);
    v->runner = tid;
    ptrace(PTRACE_CONT, tid, 0, 0);   /* ESRCH: it died stopped; Python reaps it */
    return 1;
}

/* The next stop: polled for t->spin seconds, then slept for, up to SLICE_NS (0: none yet).
 * Polling first because on a host where an idle CPU is slow to wake (a nested
 * hypervisor's), a tracer that slept between the stops of a VMM exiting flat out cost each
 * exit more than the stop itself. The sleep is sigtimedwait() on SIGCHLD, blocked here so
 * a stop arriving meanwhile is kept for it, rather than a blocking waitpid(): a Ctrl+C
 * that lands while polling interrupts nothing, and Python must still see it soon. */
static pid_t next_stop(struct wb_table *t, int *status)
{
    double deadline = now() + t->spin;
    pid_t tid;
    while ((tid = waitpid(-1, status, __WALL | WNOHANG)) == 0 && now() < deadline)
        ;
    if (tid != 0)
        return tid;
    sigset_t chld, old;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &chld, &old);
    tid = waitpid(-1, status, __WALL | WNOHANG);
    if (tid == 0) {
        struct timespec slice = {0, SLICE_NS};
        if (sigtimedwait(&chld, NULL, &slice) >= 0)
            tid = waitpid(-1, status, __WALL | WNOHANG);
        else if (errno != EAGAIN)
            tid = -1;   /* EINTR: a signal for Python */
    }
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return tid;
}

/* 1: a stop for Python in t->tid/t->status; 0: none yet, or the record buffer is full (take
 * it and call again); -errno: waitpid failed (ECHILD: nothing left; EINTR: a signal). */
int wb_wait(struct wb_table *t)
{
    uint32_t room = sizeof(struct wb_record) + t->head_size + t->io_max;
    if (t->head_size > WB_HEAD_MAX)
        return -EINVAL;
    for (;;) {
        int status;
        if (t->out_used + room > t->out_cap)
            return 0;
        pid_t tid = next_stop(t, &status);
        if (tid == 0)
            return 0;
        if (tid < 0)
            return -errno;
        if (!handled(t, tid, status)) {
            t->tid = tid;
            t->status = status;
            return 1;
        }
    }
}
