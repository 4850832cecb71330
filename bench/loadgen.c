/* The benchmarks' load generator (bench/throughput.py builds and runs it): letters sent over
 * SMTP to loopback ports, each in a session of its own, as a mail client sends them: EHLO,
 * STARTTLS, EHLO, AUTH PLAIN (when asked), MAIL, RCPT, DATA, QUIT, one command at a time, each
 * reply read before the next (no pipelining). `sessions` at a time, in one thread (epoll and
 * OpenSSL's non-blocking calls).
 *
 * Written in C because it shares the machine with the server it measures: the Python one
 * (aiosmtplib over asyncio's TLS, bench.throughput's before 2026-12-05, still there with
 * LRE_BENCH_CLIENT=aiosmtplib) took 3.0-3.2 ms of CPU a 1 KB letter, this one 1.2-1.3 (half of
 * it OpenSSL's, a third the kernel's), and the Python one held Postfix back: 242 against 292
 * letters/s relayed at 1 KB, 142 against 246 at 100 KB, in two runs one after the other.
 *
 *   loadgen PORTS FIRST LETTERS SESSIONS SIZE AUTH TAG RATE SENDER PASSWORD
 *
 * PORTS: comma-separated, letter n goes to PORTS[n % count]; AUTH: 1 or 0; RATE: letters
 * started a second (letter n at (n - FIRST) / RATE s after the first, at most SESSIONS at
 * once), 0 for flat out. Each letter is bench.throughput.letter(n, SIZE, TAG), byte for byte.
 * Prints one line a letter acknowledged ("n <epoch s of its 250> <s from DATA to the 250>"),
 * then "elapsed <s>". Any unexpected reply or error: a sentence on stderr, exit status 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum step { GREETING, EHLO1, STARTTLS, HANDSHAKE, EHLO2, AUTH, MAIL, RCPT, DATA, BODY, QUIT };

struct session {
    int fd;
    SSL *ssl;
    long n;             /* the letter, -1 when idle */
    enum step step;
    char *out;          /* what is left to send of the current command or body */
    size_t out_len;
    char *owned;        /* the buffer `out` points into, freed once sent */
    char in[4096];
    size_t in_len;
    char last[512];     /* the last reply's last line, for an error's message */
    double data_sent;   /* monotonic s, when DATA was written */
};

static int ports[64], port_count;
static long first, letters, sessions, size;
static int auth;
static const char *tag, *sender, *password;
static double rate;
static SSL_CTX *tls;
static int epfd;
static char *auth_line;
static long next_letter, done_letters;
static double began;

static void fail(const char *format, ...) {
    va_list args;
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
    fputc('\n', stderr);
    exit(1);
}

static double now(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static char *dot_stuffed(const char *text, size_t len, size_t *out_len) {
    /* the letter as DATA sends it: a leading dot doubled, a final CRLF, then ".\r\n" */
    char *out = malloc(2 * len + 8);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '.' && (i == 0 || text[i - 1] == '\n')) out[o++] = '.';
        out[o++] = text[i];
    }
    if (o < 2 || out[o - 2] != '\r' || out[o - 1] != '\n') {
        out[o++] = '\r';
        out[o++] = '\n';
    }
    memcpy(out + o, ".\r\n", 3);
    *out_len = o + 3;
    return out;
}

static char *letter(long n, size_t *out_len) {
    /* bench.throughput.letter(n, size, tag) */
    static const char line[] =
        "Madame, Monsieur, veuillez trouver ci-joint notre lettre recommandee.\r\n";
    size_t line_len = sizeof line - 1;
    char head[1024];
    int head_len = snprintf(head, sizeof head,
                            "From: Bench <%s>\r\nTo: r%ld@example.com\r\nSubject: Lettre %ld\r\n"
                            "Message-ID: <%s-%ld@bench.example.ma>\r\n\r\n",
                            sender, n, n, tag, n);
    long body_len = size - head_len > 0 ? size - head_len : 0;
    size_t total = head_len + body_len;
    char *text = malloc(total + 1);
    memcpy(text, head, head_len);
    for (long i = 0; i < body_len; i++) text[head_len + i] = line[i % line_len];
    char *sent = dot_stuffed(text, total, out_len);
    free(text);
    return sent;
}

static void queue_out(struct session *s, char *owned, char *data, size_t len) {
    free(s->owned);
    s->owned = owned;
    s->out = data;
    s->out_len = len;
}

static void command(struct session *s, const char *format, ...) {
    char *line;
    va_list args;
    va_start(args, format);
    int len = vasprintf(&line, format, args);
    va_end(args);
    queue_out(s, line, line, (size_t)len);
}

static void watch(struct session *s, int op) {
    struct epoll_event event = {.events = EPOLLIN | (s->out_len ? EPOLLOUT : 0), .data.ptr = s};
    if (epoll_ctl(epfd, op, s->fd, &event) < 0) fail("epoll_ctl: %s", strerror(errno));
}

static void start(struct session *s, long n) {
    int port = ports[n % port_count];
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (s->fd < 0) fail("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(s->fd, (struct sockaddr *)&to, sizeof to) < 0 && errno != EINPROGRESS)
        fail("letter %ld: connect to port %d: %s", n, port, strerror(errno));
    s->n = n;
    s->step = GREETING;
    s->in_len = 0;
    queue_out(s, NULL, NULL, 0);
    watch(s, EPOLL_CTL_ADD);
}

static void finish(struct session *s) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
    if (s->ssl) SSL_free(s->ssl);
    s->ssl = NULL;
    close(s->fd);
    s->n = -1;
    done_letters++;
}

/* what SSL_read, SSL_write or SSL_connect returned: > 0 as it is, -1 when it waits for the
 * socket; an error ends the run */
static int tls_result(struct session *s, int r, const char *what) {
    if (r > 0) return r;
    int e = SSL_get_error(s->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return -1;
    fail("letter %ld: TLS %s failed (OpenSSL error %d; the server closed the session?)", s->n,
         what, e);
    return -1;
}

/* 1: all sent; 0: waiting for the socket; the session's error ends the run */
static int flush(struct session *s) {
    while (s->out_len) {
        ssize_t wrote;
        if (s->ssl) {
            wrote = tls_result(s, SSL_write(s->ssl, s->out, (int)s->out_len), "write");
            if (wrote < 0) return 0;
        } else {
            wrote = write(s->fd, s->out, s->out_len);
            if (wrote < 0) {
                if (errno == EAGAIN) return 0;
                fail("letter %ld: write: %s", s->n, strerror(errno));
            }
        }
        s->out += wrote;
        s->out_len -= (size_t)wrote;
    }
    queue_out(s, NULL, NULL, 0);
    return 1;
}

/* a whole reply read: its code (the last line's); 0 while incomplete */
static int reply(struct session *s) {
    for (;;) {
        char *end;
        while ((end = memchr(s->in, '\n', s->in_len)) != NULL) {
            size_t line_len = (size_t)(end - s->in) + 1;
            int last = line_len < 5 || s->in[3] != '-';
            int code = atoi(s->in);
            size_t kept = line_len - 1 < sizeof s->last - 1 ? line_len - 1 : sizeof s->last - 1;
            memcpy(s->last, s->in, kept);
            s->last[kept && s->last[kept - 1] == '\r' ? kept - 1 : kept] = 0;
            memmove(s->in, end + 1, s->in_len - line_len);
            s->in_len -= line_len;
            if (last) return code;
        }
        if (s->in_len == sizeof s->in) fail("letter %ld: a reply line too long", s->n);
        ssize_t got;
        if (s->ssl) {
            got = tls_result(s, SSL_read(s->ssl, s->in + s->in_len, (int)(sizeof s->in - s->in_len)),
                             "read");
            if (got < 0) return 0;
        } else {
            got = read(s->fd, s->in + s->in_len, sizeof s->in - s->in_len);
            if (got < 0 && errno == EAGAIN) return 0;
            if (got < 0) fail("letter %ld: %s", s->n, strerror(errno));
            if (got == 0) fail("letter %ld: the server closed the connection", s->n);
        }
        s->in_len += (size_t)got;
    }
}

static const char *const steps[] = {"the greeting", "EHLO", "STARTTLS", "the TLS handshake",
                                    "EHLO", "AUTH", "MAIL", "RCPT", "DATA", "the end of DATA",
                                    "QUIT"};

static void expect(struct session *s, int code, int wanted) {
    if (code != wanted)
        fail("letter %ld: %s answered \"%s\" (%d expected)", s->n, steps[s->step], s->last, wanted);
}

static void advance(struct session *s) {
    for (;;) {
        if (s->out_len && !flush(s)) break;
        if (s->step == HANDSHAKE) {
            if (tls_result(s, SSL_connect(s->ssl), "handshake") < 0) break;
            s->step = EHLO2;
            command(s, "EHLO bench.example.ma\r\n");
            continue;
        }
        int code = reply(s);
        if (!code) break;
        switch (s->step) {
        case GREETING:
            expect(s, code, 220);
            s->step = EHLO1;
            command(s, "EHLO bench.example.ma\r\n");
            break;
        case EHLO1:
            expect(s, code, 250);
            s->step = STARTTLS;
            command(s, "STARTTLS\r\n");
            break;
        case STARTTLS:
            expect(s, code, 220);
            s->ssl = SSL_new(tls);
            SSL_set_fd(s->ssl, s->fd);
            s->step = HANDSHAKE;
            break;
        case EHLO2:
            expect(s, code, 250);
            if (auth) {
                s->step = AUTH;
                command(s, "AUTH PLAIN %s\r\n", auth_line);
                break;
            }
            /* fall through */
        case AUTH:
            expect(s, code, s->step == AUTH ? 235 : 250);
            s->step = MAIL;
            command(s, "MAIL FROM:<%s>\r\n", sender);
            break;
        case MAIL:
            expect(s, code, 250);
            s->step = RCPT;
            command(s, "RCPT TO:<r%ld@example.com>\r\n", s->n);
            break;
        case RCPT:
            expect(s, code, 250);
            s->step = DATA;
            s->data_sent = now(CLOCK_MONOTONIC);
            command(s, "DATA\r\n");
            break;
        case DATA: {
            expect(s, code, 354);
            size_t len;
            char *body = letter(s->n, &len);
            s->step = BODY;
            queue_out(s, body, body, len);
            break;
        }
        case BODY:
            expect(s, code, 250);
            printf("%ld %.6f %.6f\n", s->n, now(CLOCK_REALTIME), now(CLOCK_MONOTONIC) - s->data_sent);
            s->step = QUIT;
            command(s, "QUIT\r\n");
            break;
        case QUIT:
            expect(s, code, 221);
            finish(s);
            return;
        case HANDSHAKE:
            break;
        }
    }
    watch(s, EPOLL_CTL_MOD);
}

static void base64_plain(void) {
    /* AUTH PLAIN's argument: base64 of "\0sender\0password" */
    size_t len = strlen(sender) + strlen(password) + 2;
    unsigned char *plain = malloc(len);
    plain[0] = 0;
    memcpy(plain + 1, sender, strlen(sender));
    plain[1 + strlen(sender)] = 0;
    memcpy(plain + 2 + strlen(sender), password, strlen(password));
    auth_line = malloc(4 * len / 3 + 8);
    EVP_EncodeBlock((unsigned char *)auth_line, plain, (int)len);
    free(plain);
}

int main(int argc, char **argv) {
    if (argc != 11) fail("usage: loadgen PORTS FIRST LETTERS SESSIONS SIZE AUTH TAG RATE SENDER PASSWORD");
    for (char *p = strtok(argv[1], ","); p && port_count < 64; p = strtok(NULL, ","))
        ports[port_count++] = atoi(p);
    first = atol(argv[2]);
    letters = atol(argv[3]);
    sessions = atol(argv[4]);
    size = atol(argv[5]);
    auth = atoi(argv[6]);
    tag = argv[7];
    rate = atof(argv[8]);
    sender = argv[9];
    password = argv[10];
    base64_plain();
    tls = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(tls, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_mode(tls, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_session_cache_mode(tls, SSL_SESS_CACHE_OFF); /* a full handshake each, as before */
    epfd = epoll_create1(0);
    struct session *all = calloc((size_t)sessions, sizeof *all);
    for (long i = 0; i < sessions; i++) all[i].n = -1;
    began = now(CLOCK_MONOTONIC);
    next_letter = first;
    struct epoll_event events[64];
    while (done_letters < letters) {
        int timeout = -1;
        for (long i = 0; i < sessions && next_letter < first + letters; i++) {
            if (all[i].n != -1) continue;
            double due = rate > 0 ? began + (next_letter - first) / rate : 0;
            double wait = due - now(CLOCK_MONOTONIC);
            if (wait > 0) {
                timeout = (int)(wait * 1000) + 1;
                break;
            }
            start(&all[i], next_letter++);
        }
        int ready = epoll_wait(epfd, events, 64, timeout);
        if (ready < 0 && errno != EINTR) fail("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < ready; i++) advance(events[i].data.ptr);
    }
    printf("elapsed %.6f\n", now(CLOCK_MONOTONIC) - began);
    return 0;
}
