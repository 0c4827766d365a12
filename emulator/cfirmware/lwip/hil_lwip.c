/*
 * hil_lwip.c -- lwIP 2.1.3 and its SMTP client (apps/smtp/smtp.c) as an smtp-hil firmware:
 * the implementation of include/hil_firmware.h over lwIP's raw API with NO_SYS=1.
 *
 * What it is, piece by piece:
 *   - time: sys_now() returns the now_ms of the running entry point; hil_fw_advance()
 *     runs sys_check_timeouts() at the deadline sys_timeouts_sleeptime() named.
 *   - the wire: an IP-only netif. Its output copies the IPv4 packet and hands it to the
 *     host's transmit() (which only queues); hil_fw_input() puts a received packet into a
 *     PBUF_POOL pbuf (as a NIC driver does) and gives it to ip4_input().
 *   - the pool: PBUF_POOL is compiled at HIL_LWIP_POOL_MAX buffers; at init the glue
 *     takes back all but config.pool_buffers of them for good. memp_malloc/memp_free are
 *     wrapped at link time (-Wl,--wrap) so every PBUF_POOL allocation, free and failure
 *     reaches the host's pool() callback in the order it happens.
 *   - randomness: the ISN (LWIP_HOOK_TCP_ISN) and LWIP_RAND (first local port) come from a
 *     xorshift generator seeded with config.seed.
 *   - assertions: LWIP_PLATFORM_ASSERT records file, line and message and longjmps back
 *     to the entry point, which returns HIL_FW_ASSERTION_FAILED; the instance is stopped.
 *   - the application: each job is handed to lwIP's SMTP client at once, through the API
 *     chosen by the option smtp_api (below). The client's result callback
 *     (smtp_result, srv_err, err) becomes one terminal event (see report_result()).
 *
 * Options (config.options, "key=value" lines):
 *   smtp_api=bodycback  smtp_send_mail_bodycback(): the body streamed 256 bytes at a time
 *                       by a callback (the default: any size, CRLF line ends allowed).
 *   smtp_api=copy       smtp_send_mail(): everything copied into one lwIP heap buffer.
 *   smtp_api=static     smtp_send_mail_static(): lwIP keeps pointers to our copy.
 *   With copy and static, SMTP_CHECK_DATA refuses CR, LF and 8-bit bytes in the body
 *   (ERR_ARG, reported as error invalid_input), as lwIP 2.1.3 does.
 */
#include "hil_firmware.h"

#include "lwip/apps/smtp.h"
#include "lwip/init.h"
#include "lwip/ip4.h"
#include "lwip/ip4_addr.h"
#include "lwip/memp.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/stats.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HIL_DESCRIPTION "lwIP " LWIP_VERSION_STRING " (apps/smtp, raw API, NO_SYS)"
#define HIL_MAX_PACKET 65535u

enum hil_state { HIL_UNINITIALISED, HIL_RUNNING, HIL_FAULTED };
enum hil_smtp_api { HIL_API_BODYCBACK, HIL_API_COPY, HIL_API_STATIC };

/* ---- instance state (one loaded copy of the library = one device) ---------------------- */
static enum hil_state g_state = HIL_UNINITIALISED;
static hil_fw_host g_host;
static u32_t g_now_ms;
static u32_t g_rng = 1;
static enum hil_smtp_api g_smtp_api = HIL_API_BODYCBACK;
static struct netif g_netif;
static u8_t g_packet[HIL_MAX_PACKET];

static jmp_buf *g_guard;
static char g_fault_file[128];
static char g_fault_message[256];
static u32_t g_fault_line;

/* ---- the pool as the host sees it -------------------------------------------------------- */
struct hil_pool_slot {
    void *mem;
    u32_t id;
};
static struct hil_pool_slot g_pool_slots[HIL_LWIP_POOL_MAX];
static hil_fw_pool_stats g_pool;
static u32_t g_pool_next_id;
static int g_pool_reporting;
static const char *g_pool_purpose = "lwip";
static void *g_pool_withheld[HIL_LWIP_POOL_MAX];

/* ---- guarded entry points ------------------------------------------------------------- */
/* Every exported entry point that runs lwIP code is wrapped so that an assertion inside it
 * returns here. The instance never runs again after that (lwIP's state is unknown). */
#define HIL_GUARDED(...)                                    \
    do {                                                    \
        jmp_buf guard;                                      \
        if (g_state != HIL_RUNNING) {                       \
            return HIL_FW_STOPPED;                          \
        }                                                   \
        if (setjmp(guard) != 0) {                           \
            g_guard = NULL;                                 \
            g_state = HIL_FAULTED;                          \
            return HIL_FW_ASSERTION_FAILED;                 \
        }                                                   \
        g_guard = &guard;                                   \
        __VA_ARGS__;                                        \
        g_guard = NULL;                                     \
    } while (0)

static void copy_text(char *target, size_t size, const char *text)
{
    if (size == 0) {
        return;
    }
    snprintf(target, size, "%s", text != NULL ? text : "");
}

void hil_lwip_assert_failed(const char *message, const char *file, int line)
{
    const char *base = file != NULL ? strrchr(file, '/') : NULL;
    copy_text(g_fault_file, sizeof g_fault_file, base != NULL ? base + 1 : file);
    copy_text(g_fault_message, sizeof g_fault_message, message);
    g_fault_line = (u32_t)line;
    if (g_guard != NULL) {
        longjmp(*g_guard, 1);
    }
    /* An assertion outside any entry point cannot be reported: stop the process; the
     * harness's worker turns the abort into the verdict. */
    abort();
}

void hil_lwip_diag(const char *format, ...)
{
    char line[512];
    va_list args;
    va_start(args, format);
    vsnprintf(line, sizeof line, format, args);
    va_end(args);
    if (g_host.log != NULL) {
        g_host.log(g_host.ctx, line);
    }
}

static u32_t next_random(void)
{
    /* xorshift32 (Marsaglia); g_rng is never 0. */
    u32_t x = g_rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    g_rng = x;
    return x;
}

unsigned int hil_lwip_rand(void)
{
    return (unsigned int)next_random();
}

u32_t hil_lwip_tcp_isn(const ip_addr_t *local_ip, u16_t local_port,
                       const ip_addr_t *remote_ip, u16_t remote_port)
{
    LWIP_UNUSED_ARG(local_ip);
    LWIP_UNUSED_ARG(local_port);
    LWIP_UNUSED_ARG(remote_ip);
    LWIP_UNUSED_ARG(remote_port);
    return next_random();
}

u32_t sys_now(void)
{
    return g_now_ms;
}

/* ---- PBUF_POOL accounting (memp_malloc/memp_free wrapped with -Wl,--wrap) -------------- */
void *__real_memp_malloc(memp_t type);
void __real_memp_free(memp_t type, void *mem);
void *__wrap_memp_malloc(memp_t type);
void __wrap_memp_free(memp_t type, void *mem);

static void pool_report(u32_t op, u32_t id, const char *purpose)
{
    if (g_pool_reporting && g_host.pool != NULL) {
        g_host.pool(g_host.ctx, op, id, purpose);
    }
}

void *__wrap_memp_malloc(memp_t type)
{
    void *mem = __real_memp_malloc(type);
    size_t i;
    if (type != MEMP_PBUF_POOL || !g_pool_reporting) {
        return mem;
    }
    if (mem == NULL) {
        g_pool.failed_allocations++;
        pool_report(HIL_FW_POOL_EXHAUSTED, 0, g_pool_purpose);
        return NULL;
    }
    for (i = 0; i < HIL_LWIP_POOL_MAX; i++) {
        if (g_pool_slots[i].mem == NULL) {
            g_pool_slots[i].mem = mem;
            g_pool_slots[i].id = g_pool_next_id++;
            g_pool.in_use++;
            g_pool.allocations++;
            if (g_pool.in_use > g_pool.peak_in_use) {
                g_pool.peak_in_use = g_pool.in_use;
            }
            pool_report(HIL_FW_POOL_ALLOC, g_pool_slots[i].id, g_pool_purpose);
            return mem;
        }
    }
    LWIP_ASSERT("hil: more pool buffers in use than the pool holds", 0);
    return mem;
}

void __wrap_memp_free(memp_t type, void *mem)
{
    size_t i;
    if (type == MEMP_PBUF_POOL && g_pool_reporting && mem != NULL) {
        for (i = 0; i < HIL_LWIP_POOL_MAX; i++) {
            if (g_pool_slots[i].mem == mem) {
                g_pool_slots[i].mem = NULL;
                g_pool.in_use--;
                pool_report(HIL_FW_POOL_FREE, g_pool_slots[i].id, "");
                break;
            }
        }
        LWIP_ASSERT("hil: freeing a pool buffer that was never allocated", i < HIL_LWIP_POOL_MAX);
    }
    __real_memp_free(type, mem);
}

/* ---- the network interface -------------------------------------------------------------- */
static err_t netif_output_ip4(struct netif *netif, struct pbuf *p, const ip4_addr_t *ipaddr)
{
    u16_t len;
    LWIP_UNUSED_ARG(netif);
    LWIP_UNUSED_ARG(ipaddr);
    len = pbuf_copy_partial(p, g_packet, p->tot_len, 0);
    if (len != p->tot_len) {
        return ERR_BUF;
    }
    g_host.transmit(g_host.ctx, g_packet, len);
    return ERR_OK;
}

static u16_t g_mtu;

static err_t netif_setup(struct netif *netif)
{
    netif->name[0] = 'h';
    netif->name[1] = 'l';
    netif->output = netif_output_ip4;
    netif->mtu = g_mtu;
    netif->flags = NETIF_FLAG_UP | NETIF_FLAG_LINK_UP;
    return ERR_OK;
}

/* ---- the application: jobs and the client's outcome ------------------------------------ */
struct hil_job {
    u32_t id;
    char *sender;
    char *recipient;
    char *subject;
    char *body;       /* NUL-terminated copy (the copy and static APIs need a C string) */
    size_t body_len;
    size_t body_sent; /* bodycback: bytes handed to lwIP so far */
};

static void free_job(struct hil_job *job)
{
    free(job->sender);
    free(job->recipient);
    free(job->subject);
    free(job->body);
    free(job);
}

static char *copy_string(const char *text)
{
    size_t len = strlen(text != NULL ? text : "");
    char *out = malloc(len + 1);
    if (out != NULL) {
        memcpy(out, text != NULL ? text : "", len + 1);
    }
    return out;
}

static const char *err_name(err_t err)
{
    static const char *const names[] = {
        "ERR_OK", "ERR_MEM", "ERR_BUF", "ERR_TIMEOUT", "ERR_RTE", "ERR_INPROGRESS",
        "ERR_VAL", "ERR_WOULDBLOCK", "ERR_USE", "ERR_ALREADY", "ERR_ISCONN", "ERR_CONN",
        "ERR_IF", "ERR_ABRT", "ERR_RST", "ERR_CLSD", "ERR_ARG"};
    int index = -(int)err;
    if (index < 0 || index >= (int)LWIP_ARRAYSIZE(names)) {
        return "ERR_?";
    }
    return names[index];
}

static const char *result_name(u8_t result)
{
    static const char *const names[] = {
        "SMTP_RESULT_OK", "SMTP_RESULT_ERR_UNKNOWN", "SMTP_RESULT_ERR_CONNECT",
        "SMTP_RESULT_ERR_HOSTNAME", "SMTP_RESULT_ERR_CLOSED", "SMTP_RESULT_ERR_TIMEOUT",
        "SMTP_RESULT_ERR_SVR_RESP", "SMTP_RESULT_ERR_MEM"};
    return result < LWIP_ARRAYSIZE(names) ? names[result] : "SMTP_RESULT_?";
}

static void emit_event(u32_t job_id, u32_t kind, u32_t error_kind, u32_t reply_code,
                       const char *detail)
{
    hil_fw_event event;
    event.job_id = job_id;
    event.kind = kind;
    event.error_kind = error_kind;
    event.reply_code = reply_code;
    event.command = "";
    event.reply_text = "";
    event.detail = detail;
    g_host.event(g_host.ctx, &event);
}

/*
 * The client's outcome in the harness's words. smtp.c reports SMTP_RESULT_OK only from
 * state SMTP_QUIT on a 250 reply (the reply to the end of the content), so SENT carries
 * 250; it knows neither the command a refused reply answered nor any reply text, so
 * those stay empty. A refused connection reaches smtp.c as a reset (smtp_tcp_err with
 * ERR_RST), which it reports as SMTP_RESULT_ERR_CLOSED like any lost connection.
 */
static void report_result(void *arg, u8_t smtp_result, u16_t srv_err, err_t err)
{
    struct hil_job *job = (struct hil_job *)arg;
    char detail[160];
    u32_t kind = HIL_FW_EV_ERROR;
    u32_t error_kind = HIL_FW_ERR_NONE;
    u32_t reply_code = 0;
    snprintf(detail, sizeof detail, "smtp_result=%u (%s) srv_err=%u err=%d (%s)",
             (unsigned)smtp_result, result_name(smtp_result), (unsigned)srv_err, (int)err,
             err_name(err));
    switch (smtp_result) {
    case SMTP_RESULT_OK:
        kind = HIL_FW_EV_SENT;
        reply_code = 250;
        break;
    case SMTP_RESULT_ERR_SVR_RESP:
        kind = HIL_FW_EV_COMMAND_ABORT;
        reply_code = srv_err;
        break;
    case SMTP_RESULT_ERR_TIMEOUT:
        kind = HIL_FW_EV_TIMEOUT;
        break;
    case SMTP_RESULT_ERR_CLOSED:
        error_kind = HIL_FW_ERR_CONNECTION_LOST;
        break;
    case SMTP_RESULT_ERR_CONNECT:
    case SMTP_RESULT_ERR_HOSTNAME:
        error_kind = HIL_FW_ERR_CONNECTION_REFUSED;
        break;
    case SMTP_RESULT_ERR_MEM:
        error_kind = HIL_FW_ERR_OUT_OF_MEMORY;
        break;
    default:
        error_kind = HIL_FW_ERR_PROTOCOL;
        break;
    }
    emit_event(job->id, kind, error_kind, reply_code, detail);
    free_job(job);
}

/* The body, 256 bytes (SMTP_BODYDH_BUFFER_SIZE) per call, as smtp.c's example does. */
static int body_chunk(void *arg, struct smtp_bodydh *bdh)
{
    struct hil_job *job = (struct hil_job *)arg;
    size_t left = job->body_len - job->body_sent;
    size_t take = left < sizeof bdh->buffer ? left : sizeof bdh->buffer;
    memcpy(bdh->buffer, job->body + job->body_sent, take);
    bdh->length = (u16_t)take;
    job->body_sent += take;
    return job->body_sent < job->body_len ? BDH_WORKING : BDH_DONE;
}

static void refuse_job(u32_t job_id, u32_t error_kind, const char *why, err_t err)
{
    char detail[200];
    snprintf(detail, sizeof detail, "%s returned %d (%s)", why, (int)err, err_name(err));
    emit_event(job_id, HIL_FW_EV_ERROR, error_kind, 0, detail);
}

static void start_job(const hil_fw_job *spec)
{
    struct hil_job *job;
    err_t err;
    const char *api;
    if (spec->recipient_count != 1) {
        emit_event(spec->job_id, HIL_FW_EV_ERROR, HIL_FW_ERR_UNSUPPORTED, 0,
                   "lwIP's smtp_send_mail takes exactly one recipient");
        return;
    }
    job = calloc(1, sizeof *job);
    if (job == NULL) {
        refuse_job(spec->job_id, HIL_FW_ERR_OUT_OF_MEMORY, "malloc", ERR_MEM);
        return;
    }
    job->id = spec->job_id;
    job->sender = copy_string(spec->sender);
    job->recipient = copy_string(spec->recipients[0]);
    job->subject = copy_string(spec->subject);
    job->body = malloc(spec->body_len + 1);
    if (job->sender == NULL || job->recipient == NULL || job->subject == NULL
        || job->body == NULL) {
        free_job(job);
        refuse_job(spec->job_id, HIL_FW_ERR_OUT_OF_MEMORY, "malloc", ERR_MEM);
        return;
    }
    if (spec->body_len > 0) {
        memcpy(job->body, spec->body, spec->body_len);
    }
    job->body_len = spec->body_len;
    /* smtp.c ends the body with "\r\n.\r\n" itself: a body that already ends with a
     * line end is handed over without it, or the mail would gain an empty last line. */
    if (job->body_len >= 2 && job->body[job->body_len - 2] == '\r'
        && job->body[job->body_len - 1] == '\n') {
        job->body_len -= 2;
    }
    job->body[job->body_len] = '\0';
    switch (g_smtp_api) {
    case HIL_API_COPY:
        api = "smtp_send_mail";
        err = smtp_send_mail(job->sender, job->recipient, job->subject, job->body,
                             report_result, job);
        break;
    case HIL_API_STATIC:
        api = "smtp_send_mail_static";
        err = smtp_send_mail_static(job->sender, job->recipient, job->subject, job->body,
                                    report_result, job);
        break;
    case HIL_API_BODYCBACK:
    default:
        api = "smtp_send_mail_bodycback";
        err = smtp_send_mail_bodycback(job->sender, job->recipient, job->subject, body_chunk,
                                       report_result, job);
        break;
    }
    if (err != ERR_OK) {
        /* The callback is never called when the send function refuses the mail. */
        free_job(job);
        refuse_job(spec->job_id,
                   err == ERR_ARG ? HIL_FW_ERR_INVALID_INPUT
                   : err == ERR_MEM ? HIL_FW_ERR_OUT_OF_MEMORY
                   : HIL_FW_ERR_CONNECTION_REFUSED,
                   api, err);
    }
}

/* ---- options ------------------------------------------------------------------------- */
static int parse_options(const char *options, char *error, size_t error_len)
{
    const char *line = options != NULL ? options : "";
    while (*line != '\0') {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        char item[128];
        char *value;
        if (len == 0) {
            line = end != NULL ? end + 1 : line + len;
            continue;
        }
        if (len >= sizeof item) {
            snprintf(error, error_len, "options: line too long: %.40s...", line);
            return HIL_FW_INVALID;
        }
        memcpy(item, line, len);
        item[len] = '\0';
        value = strchr(item, '=');
        if (value == NULL) {
            snprintf(error, error_len, "options: expected key=value, got '%s'", item);
            return HIL_FW_INVALID;
        }
        *value++ = '\0';
        if (strcmp(item, "smtp_api") == 0) {
            if (strcmp(value, "bodycback") == 0) {
                g_smtp_api = HIL_API_BODYCBACK;
            } else if (strcmp(value, "copy") == 0) {
                g_smtp_api = HIL_API_COPY;
            } else if (strcmp(value, "static") == 0) {
                g_smtp_api = HIL_API_STATIC;
            } else {
                snprintf(error, error_len,
                         "options.smtp_api: expected one of bodycback, copy, static, got '%s'",
                         value);
                return HIL_FW_INVALID;
            }
        } else {
            snprintf(error, error_len, "options: unknown key '%s' (known: smtp_api)", item);
            return HIL_FW_INVALID;
        }
        line = end != NULL ? end + 1 : line + len;
    }
    return HIL_FW_OK;
}

/* ---- the entry points ------------------------------------------------------------------- */
HIL_FW_API const char *hil_fw_describe(void)
{
    return HIL_DESCRIPTION;
}

HIL_FW_API uint32_t hil_fw_capabilities(void)
{
    return HIL_FW_CAP_AUTH_PLAIN | HIL_FW_CAP_AUTH_LOGIN;
}

HIL_FW_API int hil_fw_init(const hil_fw_host *host, const hil_fw_config *config,
                           char *error, size_t error_len)
{
    ip4_addr_t ip, netmask, gateway;
    char server[16];
    int i;
    if (g_state != HIL_UNINITIALISED) {
        snprintf(error, error_len, "this copy of the firmware was already started");
        return HIL_FW_STOPPED;
    }
    if (host == NULL || config == NULL || host->transmit == NULL || host->event == NULL
        || host->pool == NULL) {
        snprintf(error, error_len, "host: transmit, event and pool callbacks are required");
        return HIL_FW_INVALID;
    }
    if (config->abi_version != HIL_FW_ABI_VERSION) {
        snprintf(error, error_len, "abi_version: this firmware speaks %u, the host %u",
                 HIL_FW_ABI_VERSION, (unsigned)config->abi_version);
        return HIL_FW_INVALID;
    }
    if (config->pool_buffers < 1 || config->pool_buffers > HIL_LWIP_POOL_MAX) {
        snprintf(error, error_len,
                 "pool_buffers: expected 1..%u (the build's PBUF_POOL_SIZE), got %u",
                 HIL_LWIP_POOL_MAX, (unsigned)config->pool_buffers);
        return HIL_FW_INVALID;
    }
    if (config->buffer_size != PBUF_POOL_BUFSIZE) {
        snprintf(error, error_len,
                 "buffer_size: this lwIP build has %u-byte pool buffers (PBUF_POOL_BUFSIZE), "
                 "got %u", (unsigned)PBUF_POOL_BUFSIZE, (unsigned)config->buffer_size);
        return HIL_FW_INVALID;
    }
    if (config->mtu < 576) {
        snprintf(error, error_len, "mtu: expected at least 576, got %u", (unsigned)config->mtu);
        return HIL_FW_INVALID;
    }
    if (config->username != NULL && strlen(config->username) > SMTP_MAX_USERNAME_LEN) {
        snprintf(error, error_len, "username: lwIP's SMTP client takes at most %d characters",
                 SMTP_MAX_USERNAME_LEN);
        return HIL_FW_INVALID;
    }
    if (config->password != NULL && strlen(config->password) > SMTP_MAX_PASS_LEN) {
        snprintf(error, error_len, "password: lwIP's SMTP client takes at most %d characters",
                 SMTP_MAX_PASS_LEN);
        return HIL_FW_INVALID;
    }
    if (parse_options(config->options, error, error_len) != HIL_FW_OK) {
        return HIL_FW_INVALID;
    }
    g_host = *host;
    g_now_ms = (u32_t)config->now_ms;
    g_rng = config->seed != 0 ? config->seed : 0x9e3779b9u;
    g_mtu = config->mtu;
    g_state = HIL_RUNNING;
    HIL_GUARDED({
        lwip_init();
        /* Take back all but pool_buffers of the compiled pool, for good. */
        for (i = 0; i < (int)(HIL_LWIP_POOL_MAX - config->pool_buffers); i++) {
            g_pool_withheld[i] = __real_memp_malloc(MEMP_PBUF_POOL);
            LWIP_ASSERT("hil: withholding pool buffers", g_pool_withheld[i] != NULL);
        }
        g_pool.count = config->pool_buffers;
        g_pool.size = PBUF_POOL_BUFSIZE;
        g_pool_reporting = 1;
        IP4_ADDR(&ip, config->ip[0], config->ip[1], config->ip[2], config->ip[3]);
        IP4_ADDR(&netmask, config->netmask[0], config->netmask[1], config->netmask[2],
                 config->netmask[3]);
        IP4_ADDR(&gateway, config->gateway[0], config->gateway[1], config->gateway[2],
                 config->gateway[3]);
        netif_add(&g_netif, &ip, &netmask, &gateway, NULL, netif_setup, ip4_input);
        netif_set_default(&g_netif);
        netif_set_up(&g_netif);
        netif_set_link_up(&g_netif);
        snprintf(server, sizeof server, "%u.%u.%u.%u", config->server_ip[0],
                 config->server_ip[1], config->server_ip[2], config->server_ip[3]);
        smtp_set_server_addr(server);
        smtp_set_server_port(config->server_port);
        /* Always called: without it smtp_send_mail copies a length of -1 (trial finding). */
        smtp_set_auth(config->username, config->password);
    });
    return HIL_FW_OK;
}

HIL_FW_API int hil_fw_input(uint64_t now_ms, const uint8_t *packet, size_t len)
{
    HIL_GUARDED({
        struct pbuf *p;
        g_now_ms = (u32_t)now_ms;
        if (len == 0 || len > HIL_MAX_PACKET) {
            g_guard = NULL;
            return HIL_FW_INVALID;
        }
        g_pool_purpose = "rx";
        p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_POOL);
        g_pool_purpose = "lwip";
        if (p == NULL) {
            g_pool.frames_dropped++;
            pool_report(HIL_FW_POOL_DROP, 0, "rx frame");
        } else {
            pbuf_take(p, packet, (u16_t)len);
            if (g_netif.input(p, &g_netif) != ERR_OK) {
                pbuf_free(p);
            }
        }
    });
    return HIL_FW_OK;
}

HIL_FW_API int hil_fw_advance(uint64_t now_ms)
{
    HIL_GUARDED({
        g_now_ms = (u32_t)now_ms;
        sys_check_timeouts();
    });
    return HIL_FW_OK;
}

HIL_FW_API int hil_fw_next_deadline(uint64_t *deadline_ms)
{
    u32_t sleep;
    if (g_state != HIL_RUNNING) {
        return HIL_FW_STOPPED;
    }
    sleep = sys_timeouts_sleeptime();
    if (sleep == SYS_TIMEOUTS_SLEEPTIME_INFINITE) {
        return HIL_FW_INVALID;
    }
    *deadline_ms = (uint64_t)g_now_ms + sleep;
    return HIL_FW_OK;
}

HIL_FW_API int hil_fw_submit(uint64_t now_ms, const hil_fw_job *job)
{
    if (job == NULL) {
        return HIL_FW_INVALID;
    }
    HIL_GUARDED({
        g_now_ms = (u32_t)now_ms;
        start_job(job);
    });
    return HIL_FW_OK;
}

HIL_FW_API int hil_fw_get_pool_stats(hil_fw_pool_stats *out)
{
    if (out == NULL) {
        return HIL_FW_INVALID;
    }
    *out = g_pool;
    return HIL_FW_OK;
}

HIL_FW_API int hil_fw_get_fault(hil_fw_fault *out)
{
    if (out == NULL || g_state != HIL_FAULTED) {
        return HIL_FW_INVALID;
    }
    out->file = g_fault_file;
    out->line = g_fault_line;
    out->message = g_fault_message;
    return HIL_FW_OK;
}
