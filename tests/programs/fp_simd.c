/* Floating point formatting and rounding, x87, SSE/AVX register state across system
 * calls, and the string/memory routines for which glibc picks SSE/AVX variants. */
#include "hull_test.h"
#include <fenv.h>
#include <float.h>
#include <math.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile double vzero = 0.0, vone = 1.0, vthree = 3.0;

static void print_doubles(void) {
    printf("%.17g %.17g %.17g\n", 0.1 + 0.2, 1.0 / 3.0, 2.0 / 3.0);
    printf("%e %g %f %a\n", 6.02214076e23, 1e-300, 3.14159265358979, 1.5);
    printf("%g %g %g\n", vone / vzero, -vone / vzero, -0.0);
    printf("nan is nan: %d\n", isnan(vzero / vzero));
    printf("%.3f %.0f %.0f %.0f\n", 2.0005, 0.5, 1.5, 2.5); /* banker's rounding in printf */
    printf("%.21Lg\n", 1.0L / 3.0L);                      /* x87 extended precision */
    printf("DBL_EPSILON=%g DBL_MAX=%g DBL_MIN=%g\n", DBL_EPSILON, DBL_MAX, DBL_MIN);
    printf("sqrt(2)=%.17g fma=%.17g\n", sqrt(2.0), fma(0.1, 10.0, -1.0));
    /* Library transcendental results can differ in the last bit between code paths,
     * so print them to 12 significant digits only. */
    printf("sin(1)=%.12g exp(1)=%.12g log(10)=%.12g pow(2,0.5)=%.12g atan2=%.12g\n", sin(1.0), exp(1.0),
           log(10.0), pow(2.0, 0.5), atan2(1.0, 2.0));
    const char *inputs[] = {"0.1", "1e308", "4.9406564584124654e-324", "123456789.123456789", "-0x1.8p1"};
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++)
        printf("strtod(%s)=%.17g\n", inputs[i], strtod(inputs[i], NULL));
}

/* noipa keeps the division from being moved across fesetround(). */
static __attribute__((noipa)) double divide(double a, double b) { return a / b; }

static void rounding_and_flags(void) {
    fesetround(FE_UPWARD);
    double up = divide(vone, vthree);
    fesetround(FE_DOWNWARD);
    double down = divide(vone, vthree);
    fesetround(FE_TONEAREST);
    CHECK(up > down, "FE_UPWARD result > FE_DOWNWARD result");
    CHECK(fegetround() == FE_TONEAREST, "rounding mode restored");
    feclearexcept(FE_ALL_EXCEPT);
    volatile double r = divide(vone, vzero);
    (void)r;
    CHECK(fetestexcept(FE_DIVBYZERO) != 0, "FE_DIVBYZERO raised");
    feclearexcept(FE_ALL_EXCEPT);
    r = divide(vone, vthree);
    CHECK(fetestexcept(FE_INEXACT) != 0 && !fetestexcept(FE_DIVBYZERO), "FE_INEXACT raised alone");
    /* The rounding mode survives a system call. */
    fesetround(FE_UPWARD);
    syscall(SYS_getpid);
    CHECK(fegetround() == FE_UPWARD, "rounding mode survives a syscall");
    fesetround(FE_TONEAREST);
}

/* Loads all 16 xmm registers, makes a system call, and checks them afterwards. */
static int xmm_survive_syscall(void) {
    static uint64_t in[32], out[32];
    for (int i = 0; i < 32; i++)
        in[i] = 0x1111111111111111ULL * (uint64_t)(i % 15 + 1) + (uint64_t)i;
    long nr = SYS_getppid;
    __asm__ volatile(
#define LD(n) "movdqu " #n "*16(%[in]), %%xmm" #n "\n\t"
        LD(0) LD(1) LD(2) LD(3) LD(4) LD(5) LD(6) LD(7) LD(8) LD(9) LD(10) LD(11) LD(12) LD(13) LD(14) LD(15)
#undef LD
        "syscall\n\t"
#define ST(n) "movdqu %%xmm" #n ", " #n "*16(%[out])\n\t"
        ST(0) ST(1) ST(2) ST(3) ST(4) ST(5) ST(6) ST(7) ST(8) ST(9) ST(10) ST(11) ST(12) ST(13) ST(14) ST(15)
#undef ST
        : "+a"(nr)
        : [in] "r"(in), [out] "r"(out)
        : "rcx", "r11", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
          "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
    return memcmp(in, out, sizeof in) == 0;
}

/* The same with ymm registers, when the CPU (as the program sees it) has AVX. */
__attribute__((target("avx"))) static int ymm_survive_syscall(void) {
    static uint64_t in[64], out[64];
    for (int i = 0; i < 64; i++)
        in[i] = 0x0101010101010101ULL * (uint64_t)(i % 200 + 1) ^ ((uint64_t)i << 56);
    long nr = SYS_getppid;
    __asm__ volatile(
#define LD(n) "vmovdqu " #n "*32(%[in]), %%ymm" #n "\n\t"
        LD(0) LD(1) LD(2) LD(3) LD(4) LD(5) LD(6) LD(7) LD(8) LD(9) LD(10) LD(11) LD(12) LD(13) LD(14) LD(15)
#undef LD
        "syscall\n\t"
#define ST(n) "vmovdqu %%ymm" #n ", " #n "*32(%[out])\n\t"
        ST(0) ST(1) ST(2) ST(3) ST(4) ST(5) ST(6) ST(7) ST(8) ST(9) ST(10) ST(11) ST(12) ST(13) ST(14) ST(15)
#undef ST
        "vzeroupper\n\t"
        : "+a"(nr)
        : [in] "r"(in), [out] "r"(out)
        : "rcx", "r11", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
          "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
    return memcmp(in, out, sizeof in) == 0;
}

__attribute__((target("avx2"))) static uint64_t avx2_sum(const uint32_t *a, size_t n) {
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += (uint64_t)(a[i] * 3u + (a[i] >> 7));
    return s;
}

static __attribute__((noinline)) uint64_t scalar_sum(const uint32_t *a, size_t n) {
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += (uint64_t)(a[i] * 3u + (a[i] >> 7));
    return s;
}

static void memory_routines(void) {
    size_t n = 16u << 20;
    unsigned char *src = malloc(n + 64), *dst = malloc(n + 64);
    if (!src || !dst)
        exit(2);
    uint64_t rng = 42;
    for (size_t i = 0; i < n + 64; i++)
        src[i] = (unsigned char)xorshift64(&rng);
    int ok = 1;
    static const size_t offs[] = {0, 1, 7, 15, 31, 33, 63};
    for (size_t k = 0; k < sizeof offs / sizeof offs[0]; k++) {
        size_t len = n - offs[k] * 4097;
        memset(dst, 0, n + 64);
        memcpy(dst + offs[k], src + (offs[k] * 3) % 64, len);
        if (memcmp(dst + offs[k], src + (offs[k] * 3) % 64, len) != 0)
            ok = 0;
    }
    CHECK(ok, "memcpy of 16 MiB at varied alignments");
    memmove(dst + 1, dst, n);
    CHECK(memcmp(dst + 1 + offs[6], src + (offs[6] * 3) % 64, 1 << 20) == 0, "overlapping memmove");
    memset(dst, 'x', n);
    dst[n - 1] = 0;
    CHECK(strlen((char *)dst) == n - 1, "strlen of a 16 MiB string");
    dst[n / 2] = 'y';
    CHECK(strchr((char *)dst, 'y') == (char *)dst + n / 2, "strchr finds the byte");
    CHECK(memchr(dst, 'y', n) == dst + n / 2, "memchr finds the byte");
    memcpy(src, dst, n);
    CHECK(strcmp((char *)src, (char *)dst) == 0, "strcmp of equal 16 MiB strings");
    src[n - 2] = 'z';
    CHECK(strcmp((char *)src, (char *)dst) > 0, "strcmp sees the last byte");
    printf("fnv(src)=%016llx\n", (unsigned long long)fnv1a(src, n));

    uint32_t *a = (uint32_t *)dst;
    for (size_t i = 0; i < n / 4; i++)
        a[i] = (uint32_t)(i * 2654435761u);
    uint64_t s = scalar_sum(a, n / 4);
    __builtin_cpu_init();
    uint64_t v = __builtin_cpu_supports("avx2") ? avx2_sum(a, n / 4) : s;
    printf("sum=%llu\n", (unsigned long long)s);
    CHECK(s == v, "vectorised sum agrees with scalar");
    free(src);
    free(dst);
}

int main(void) {
    print_doubles();
    rounding_and_flags();
    CHECK(xmm_survive_syscall(), "xmm0-15 survive a syscall");
    __builtin_cpu_init();
    /* Prints the same line whether or not AVX is there, so a CPUID difference between
     * native and sandbox does not show as a diff. */
    CHECK(!__builtin_cpu_supports("avx") || ymm_survive_syscall(), "ymm0-15 survive a syscall (if AVX)");
    memory_routines();
    return check_summary();
}
