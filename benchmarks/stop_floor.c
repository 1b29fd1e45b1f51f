/*
 * The floor under any capture that stops each KVM_RUN: a tracer that does nothing else.
 *
 * bench_capture runs QEMU under this beside `workbench capture`, so BENCHMARKS.md can say
 * how much of a captured exit's cost is the ptrace stop itself (the VMM's vCPU thread
 * sleeping and being woken, on this host) and how much is the workbench's work per stop.
 *
 *   stop_floor -- VMM ARGS...
 *
 * Like `workbench capture`, the child installs a seccomp filter that stops only
 * ioctl(KVM_RUN), with every thread followed. Prints the number of stops on stderr.
 */
#define _GNU_SOURCE
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

int main(int argc, char **argv)
{
    if (argc < 3 || strcmp(argv[1], "--") != 0) {
        fprintf(stderr, "usage: stop_floor -- VMM ARGS...\n");
        return 2;
    }
    pid_t vmm = fork();
    if (vmm == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        stop_only_kvm_run();
        execvp(argv[2], argv + 2);
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
        pid_t tid = waitpid(-1, &status, __WALL);
        if (tid < 0)
            break;
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            if (tid == vmm)
                exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            continue;
        }
        int sig = WSTOPSIG(status), deliver = 0;
        if (sig == SIGTRAP && status >> 16 == PTRACE_EVENT_SECCOMP)
            stops++;
        else if (sig != SIGTRAP && sig != SIGSTOP)
            deliver = sig;
        ptrace(PTRACE_CONT, tid, 0, deliver);
    }
    fprintf(stderr, "stop_floor: %ld KVM_RUN stops\n", stops);
    return exit_status;
}
