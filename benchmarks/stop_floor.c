/*
 * The floor under any capture that stops each KVM_RUN: a tracer that does nothing else.
 *
 * bench_capture runs QEMU under this beside `workbench capture`, so BENCHMARKS.md can say
 * how much of a captured exit's cost is the ptrace stop itself (the VMM's vCPU thread
 * sleeping and being woken, on this host) and how much is the workbench's work per stop.
 *
 *   stop_floor [--spin] [--read] -- VMM ARGS...
 *
 * Like `workbench capture`, the child installs a seccomp filter that stops only
 * ioctl(KVM_RUN), with every thread followed. --spin polls waitpid instead of sleeping in
 * it (one core busy for the whole run); --read also reads 288 bytes of the thread's memory
 * at each stop through /proc/TID/mem, as the capture reads kvm_run. Prints the number of
 * stops on stderr.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop_only_kvm_run(void)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ioctl, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, KVM_RUN, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof(code) / sizeof(code[0]), code};

    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
        _exit(126);
}

static void read_like_the_capture(pid_t tid)
{
    char path[32], buf[288];
    snprintf(path, sizeof(path), "/proc/%d/mem", tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        /* The stack pointer's page is always mapped: any readable address will do. */
        long sp = ptrace(PTRACE_PEEKUSER, tid, offsetof(struct user_regs_struct, rsp), 0);
        if (pread(fd, buf, sizeof(buf), sp & ~4095L) < 0)
            perror("pread");
        close(fd);
    }
}

int main(int argc, char **argv)
{
    int spin = 0, peek = 0, first = 1;
    for (; first < argc && strcmp(argv[first], "--") != 0; first++) {
        spin |= strcmp(argv[first], "--spin") == 0;
        peek |= strcmp(argv[first], "--read") == 0;
    }
    if (first + 1 >= argc) {
        fprintf(stderr, "usage: stop_floor [--spin] [--read] -- VMM ARGS...\n");
        return 2;
    }
    pid_t vmm = fork();
    if (vmm == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        stop_only_kvm_run();
        execvp(argv[first + 1], argv + first + 1);
        _exit(127);
    }
    int status;
    waitpid(vmm, &status, __WALL);
    ptrace(PTRACE_SETOPTIONS, vmm, 0, PTRACE_O_TRACESECCOMP | PTRACE_O_TRACECLONE
           | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_EXITKILL);
    ptrace(PTRACE_CONT, vmm, 0, 0);
    long stops = 0;
    int exit_status = 1;
    for (;;) {
        pid_t tid;
        do
            tid = waitpid(-1, &status, __WALL | (spin ? WNOHANG : 0));
        while (tid == 0);
        if (tid < 0)
            break;
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            if (tid == vmm)
                exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            continue;
        }
        int sig = WSTOPSIG(status), deliver = 0;
        if (sig == SIGTRAP && status >> 16 == PTRACE_EVENT_SECCOMP) {
            stops++;
            if (peek)
                read_like_the_capture(tid);
        } else if (sig != SIGTRAP && sig != SIGSTOP) {
            deliver = sig;
        }
        ptrace(PTRACE_CONT, tid, 0, deliver);
    }
    fprintf(stderr, "stop_floor: %ld KVM_RUN stops\n", stops);
    return exit_status;
}
