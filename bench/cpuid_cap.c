// An LD_PRELOAD library that makes a process see an older x86-64 CPU, for benchmarking a peer that
// has no ISA cap of its own (ONNX Runtime's MLAS picks its kernels from CPUID alone, where oneDNN
// honours ONEDNN_MAX_CPU_ISA). Linux on a CPU with CPUID faulting only (/proc/cpuinfo "cpuid_fault").
//
//   FRACTURE_CPUID_CAP=avx2 LD_PRELOAD=build/bench/libcpuid_cap.so node bench/ort_peer.js ...
//
// At load it turns CPUID into a fault for this thread and the threads it starts (arch_prctl
// ARCH_SET_CPUID 0, inherited by clone); a SIGSEGV handler answers each CPUID with the real values
// less the features above the cap, and steps over the instruction. Caps:
//   avx2:  no AVX-512 (any), AMX, AVX-VNNI or AVX512_BF16 (leaf 7): an AVX2/FMA CPU such as Haswell to Zen 3;
//   sse41: additionally no AVX, FMA, F16C (leaf 1) or AVX2 (leaf 7).
// Bits: Intel SDM vol. 2A, CPUID. glibc read the CPU before this library loaded, so its own string
// routines keep their choice; a program's CPUID calls from here on see the cap. At exit it prints
// "cpuid_cap: CAP, N CPUID calls answered" to stderr, so a run shows the cap took hold.
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <cpuid.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

static int cap_level;  // 0: none, 1: avx2, 2: sse41
static const char* cap_name = "";
static volatile long answered;
static struct sigaction previous;

static int set_cpuid(int enabled) { return (int)syscall(SYS_arch_prctl, ARCH_SET_CPUID, enabled); }

static void mask(uint32_t leaf, uint32_t sub, uint32_t r[4]) {  // r: eax, ebx, ecx, edx
  if (leaf == 7 && sub == 0) {
    // EBX: AVX512F 16, DQ 17, IFMA 21, PF 26, ER 27, CD 28, BW 30, VL 31 (and AVX2 5 for sse41)
    r[1] &= ~((1u << 16) | (1u << 17) | (1u << 21) | (1u << 26) | (1u << 27) | (1u << 28) | (1u << 30) | (1u << 31));
    // ECX: AVX512_VBMI 1, VBMI2 6, VNNI 11, BITALG 12, VPOPCNTDQ 14
    r[2] &= ~((1u << 1) | (1u << 6) | (1u << 11) | (1u << 12) | (1u << 14));
    // EDX: 4VNNIW 2, 4FMAPS 3, VP2INTERSECT 8, AMX_BF16 22, AVX512_FP16 23, AMX_TILE 24, AMX_INT8 25
    r[3] &= ~((1u << 2) | (1u << 3) | (1u << 8) | (1u << 22) | (1u << 23) | (1u << 24) | (1u << 25));
    if (cap_level >= 2) r[1] &= ~(1u << 5);
  } else if (leaf == 7 && sub == 1) {
    r[0] &= ~((1u << 4) | (1u << 5));  // EAX: AVX_VNNI 4, AVX512_BF16 5
  } else if (leaf == 1 && cap_level >= 2) {
    r[2] &= ~((1u << 12) | (1u << 28) | (1u << 29));  // ECX: FMA 12, AVX 28, F16C 29
  }
}

static void on_segv(int sig, siginfo_t* info, void* ctx) {
  ucontext_t* uc = (ucontext_t*)ctx;
  greg_t* g = uc->uc_mcontext.gregs;
  const unsigned char* ip = (const unsigned char*)g[REG_RIP];
  if (info->si_code == SI_KERNEL && ip[0] == 0x0f && ip[1] == 0xa2) {  // CPUID
    const uint32_t leaf = (uint32_t)g[REG_RAX], sub = (uint32_t)g[REG_RCX];
    uint32_t r[4];
    set_cpuid(1);
    __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
    set_cpuid(0);
    mask(leaf, sub, r);
    g[REG_RAX] = r[0];
    g[REG_RBX] = r[1];
    g[REG_RCX] = r[2];
    g[REG_RDX] = r[3];
    g[REG_RIP] += 2;
    ++answered;
    return;
  }
  // Not ours: the handler that was there before, or the default action (the fault repeats).
  sigaction(SIGSEGV, &previous, NULL);
  if (previous.sa_flags & SA_SIGINFO) {
    if (previous.sa_sigaction) previous.sa_sigaction(sig, info, ctx);
  } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    previous.sa_handler(sig);
  }
}

static void report(void) {
  if (cap_level) fprintf(stderr, "cpuid_cap: %s, %ld CPUID calls answered\n", cap_name, answered);
}

__attribute__((constructor)) static void cpuid_cap_init(void) {
  const char* cap = getenv("FRACTURE_CPUID_CAP");
  if (!cap || !*cap) return;
  if (strcmp(cap, "avx2") == 0) {
    cap_level = 1;
  } else if (strcmp(cap, "sse41") == 0) {
    cap_level = 2;
  } else {
    fprintf(stderr, "cpuid_cap: FRACTURE_CPUID_CAP=%s: expected avx2 or sse41\n", cap);
    _exit(2);
  }
  cap_name = cap;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &previous);
  if (set_cpuid(0) != 0) {
    fprintf(stderr, "cpuid_cap: this CPU or kernel cannot fault CPUID (no cpuid_fault in /proc/cpuinfo): no cap\n");
    _exit(2);
  }
  atexit(report);
}
