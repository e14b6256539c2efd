/* Pipes between processes: a producer/consumer pair moving 1 MiB through a pipe (the
 * writer blocks on a full pipe until the reader drains it), ping-pong between two
 * processes, writes of at most PIPE_BUF from several writers never interleave, EOF only
 * when every write end in every process is closed, SIGPIPE and EPIPE, and a 3-stage
 * pipeline built with fork + dup2 + exec of this program with a role argument
 * (gen | upper | count), whose last stage prints to the shared stdout. */
#include "proc_util.h"
#include <ctype.h>
#include <limits.h>

enum { BULK = 1 << 20, RECORD = 64, RECORDS = 500, WRITERS = 4 };

static void fill(unsigned char *buf, size_t n, uint64_t seed) {
    uint64_t s = seed;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = xorshift64(&s);
        memcpy(buf + i, &v, n - i < 8 ? n - i : 8);
    }
}

static void producer_consumer(void) {
    static unsigned char want[BULK], got[BULK];
    fill(want, BULK, 0x1234);
    int p[2];
    pipe(p);
    pid_t c = xfork();
    if (c == 0) {
        close(p[0]);
        /* Odd-sized writes, so that the reader sees every kind of boundary. */
        size_t off = 0, step = 1;
        while (off < BULK) {
            size_t n = step < BULK - off ? step : BULK - off;
            if (write_all(p[1], want + off, n) < 0)
                _exit(1);
            off += n;
            step = step * 3 % 70001 + 1;
        }
        _exit(0);
    }
    close(p[1]);
    ssize_t n = read_full(p[0], got, BULK);
    char extra;
    ssize_t more = read(p[0], &extra, 1);
    close(p[0]);
    printf("consumer read %zd bytes, then read returned %zd (EOF)\n", n, more);
    CHECK(n == BULK && memcmp(got, want, BULK) == 0, "1 MiB arrives intact and in order");
    print_status("producer", xwait(c));
}

static void ping_pong(void) {
    int a[2], b[2];
    pipe(a);
    pipe(b);
    pid_t c = xfork();
    if (c == 0) {
        close(a[1]);
        close(b[0]);
        unsigned v;
        while (read(a[0], &v, sizeof v) == sizeof v) {
            v = v * 2 + 1;
            write(b[1], &v, sizeof v);
        }
        _exit(0);
    }
    close(a[0]);
    close(b[1]);
    unsigned v = 0, bad = 0;
    for (unsigned i = 0; i < 2000; i++) {
        write(a[1], &i, sizeof i);
        if (read(b[0], &v, sizeof v) != sizeof v || v != i * 2 + 1)
            bad++;
    }
    close(a[1]);
    close(b[0]);
    printf("ping-pong: 2000 round trips, %u wrong answers\n", bad);
    print_status("ping-pong child", xwait(c));
}

static void atomic_writes(void) {
    int p[2];
    pipe(p);
    pid_t kids[WRITERS];
    for (int w = 0; w < WRITERS; w++) {
        kids[w] = xfork();
        if (kids[w] == 0) {
            close(p[0]);
            char rec[RECORD];
            for (int i = 0; i < RECORDS; i++) {
                memset(rec, 'a' + w, sizeof rec);
                snprintf(rec, sizeof rec, "%d:%05d:", w, i);
                rec[strlen(rec)] = 'a' + w;
                rec[RECORD - 1] = '\n';
                if (write(p[1], rec, RECORD) != RECORD)
                    _exit(1);
            }
            _exit(0);
        }
    }
    close(p[1]);
    int count[WRITERS] = {0}, next[WRITERS] = {0}, torn = 0, out_of_order = 0;
    char rec[RECORD];
    ssize_t n;
    while ((n = read_full(p[0], rec, RECORD)) == RECORD) {
        int w = rec[0] - '0';
        int i = atoi(rec + 2);
        int ok = w >= 0 && w < WRITERS && rec[1] == ':' && rec[RECORD - 1] == '\n';
        for (int k = 9; ok && k < RECORD - 1; k++)
            ok = rec[k] == 'a' + w;
        if (!ok) {
            torn++;
            continue;
        }
        if (i != next[w])
            out_of_order++;
        next[w] = i + 1;
        count[w]++;
    }
    close(p[0]);
    printf("records per writer: %d %d %d %d, torn %d, out of order %d, trailing %zd\n",
           count[0], count[1], count[2], count[3], torn, out_of_order, n);
    int codes[WRITERS];
    for (int w = 0; w < WRITERS; w++)
        codes[w] = xwait(kids[w]);
    sort_ints(codes, WRITERS);
    printf("writers: %s %s %s %s\n", status_str(codes[0]), status_str(codes[1]),
           status_str(codes[2]), status_str(codes[3]));
}

static void eof_semantics(void) {
    int p[2];
    pipe(p);
    pid_t c = xfork();
    if (c == 0) {
        /* Holds the write end for a while, writes late, then exits. */
        close(p[0]);
        msleep(30);
        write(p[1], "late", 4);
        _exit(0);
    }
    close(p[1]);
    char buf[64];
    ssize_t n = read_full(p[0], buf, sizeof buf);
    printf("reader got %zd bytes before EOF: EOF waits for the child's write end\n", n);
    close(p[0]);
    xwait(c);

    /* SIGPIPE: a writer whose readers are all gone dies by it ... */
    pipe(p);
    close(p[0]);
    c = xfork();
    if (c == 0) {
        write(p[1], "x", 1);
        _exit(0);
    }
    print_status("writer to a pipe without readers", xwait(c));
    /* ... or gets EPIPE when it ignores SIGPIPE. */
    c = xfork();
    if (c == 0) {
        signal(SIGPIPE, SIG_IGN);
        errno = 0;
        ssize_t r = write(p[1], "x", 1);
        _exit(r == -1 && errno == EPIPE ? 32 : 1);
    }
    print_status("writer ignoring SIGPIPE (32 = EPIPE)", xwait(c));
    close(p[1]);

    /* A reader in another process sees data written before the writer exited. */
    pipe(p);
    c = xfork();
    if (c == 0) {
        close(p[0]);
        dprintf(p[1], "from the child %d\n", 42);
        _exit(0);
    }
    close(p[1]);
    xwait(c);
    memset(buf, 0, sizeof buf);
    n = read(p[0], buf, sizeof buf - 1);
    printf("after the writer was reaped: %s", n > 0 ? buf : "(nothing)\n");
    close(p[0]);
}

/* ---- the pipeline's stages, run as `PROGRAM gen N`, `PROGRAM upper`, `PROGRAM count` */

static int stage_gen(int n) {
    for (int i = 0; i < n; i++)
        printf("line %d of the generator, word%d\n", i, i % 7);
    return 0;
}

static int stage_upper(void) {
    int c;
    while ((c = getchar()) != EOF)
        putchar(toupper(c));
    return 0;
}

static int stage_count(void) {
    char line[256];
    long lines = 0, bytes = 0;
    uint64_t h = 0xcbf29ce484222325ULL;
    char last[256] = "";
    while (fgets(line, sizeof line, stdin)) {
        lines++;
        bytes += (long)strlen(line);
        h = fnv1a_update(h, line, strlen(line));
        strcpy(last, line);
    }
    printf("count stage: %ld lines, %ld bytes, fnv %016llx, last: %s", lines, bytes,
           (unsigned long long)h, last);
    return 0;
}

static pid_t spawn_stage(int in, int out, int close1, int close2, char *const argv[]) {
    pid_t c = xfork();
    if (c == 0) {
        if (in >= 0) {
            dup2(in, 0);
            close(in);
        }
        if (out >= 0) {
            dup2(out, 1);
            close(out);
        }
        if (close1 >= 0)
            close(close1);
        if (close2 >= 0)
            close(close2);
        exec_self(argv);
        _exit(127);
    }
    return c;
}

static void pipeline(void) {
    int p1[2], p2[2];
    pipe(p1);
    pipe(p2);
    char *gen[] = {"proc_pipes", "gen", "5000", NULL};
    char *upper[] = {"proc_pipes", "upper", NULL};
    char *count[] = {"proc_pipes", "count", NULL};
    pid_t s1 = spawn_stage(-1, p1[1], p1[0], -1, gen);
    pid_t s2 = spawn_stage(p1[0], p2[1], p1[1], p2[0], upper);
    close(p1[0]);
    close(p1[1]);
    pid_t s3 = spawn_stage(p2[0], -1, p2[1], -1, count);
    close(p2[0]);
    close(p2[1]);
    int st[3];
    int done = 0, which_ok = 1;
    while (done < 3) {
        int s;
        pid_t r = wait(&s);
        if (r < 0)
            break;
        which_ok &= r == s1 || r == s2 || r == s3;
        st[done++] = s;
    }
    sort_ints(st, done);
    CHECK(done == 3 && which_ok, "three stages reaped");
    for (int i = 0; i < done; i++)
        print_status("stage", st[i]);
}

int main(int argc, char **argv) {
    proc_init();
    if (argc > 1) {
        setvbuf(stdout, NULL, _IOFBF, 0);
        if (strcmp(argv[1], "gen") == 0)
            return stage_gen(argc > 2 ? atoi(argv[2]) : 10);
        if (strcmp(argv[1], "upper") == 0)
            return stage_upper();
        if (strcmp(argv[1], "count") == 0)
            return stage_count();
        printf("unknown role %s\n", argv[1]);
        return 2;
    }
    producer_consumer();
    ping_pong();
    atomic_writes();
    eof_semantics();
    pipeline();
    return check_summary();
}
