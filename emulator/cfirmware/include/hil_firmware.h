/*
 * hil_firmware.h -- what a C firmware (a TCP/IP stack and an SMTP client) provides to be
 * run by smtp-hil on its simulated wire, in virtual time.
 *
 * The contract
 * ------------
 * A firmware is a shared library (built with -fPIC -fvisibility=hidden; only the
 * hil_fw_* functions below are exported). smtp-hil loads one private copy of it per
 * emulated device and per run (a copy of the file under a unique name, RTLD_LOCAL), so
 * the firmware may keep its state in globals, as firmware does: one loaded copy is one
 * device. There is no de-initialisation; a copy is thrown away after its run.
 *
 * Each run's copy lives in a worker process of its own: a crash (SIGSEGV, abort()) or a
 * call that never returns ends that process, not the harness, and becomes the run's
 * verdict. A firmware assertion should rather go through the firmware's own assertion
 * hook into hil_fw_get_fault() (see below), which names the file and line.
 *
 * Time. The firmware has no clock of its own: every entry point receives now_ms, the
 * kernel's virtual time in milliseconds, never smaller than in the call before. The
 * firmware's "sys_now()" returns the now_ms of the current call. Nothing advances
 * between calls. After every call the host asks hil_fw_next_deadline() and calls
 * hil_fw_advance() exactly at that virtual time (not later, not in steps), so timers
 * fire at the virtual time the firmware means. A firmware with no timer pending costs
 * nothing while the simulation waits.
 *
 * Randomness. The only source is hil_fw_config.seed (drawn from the kernel's seeded
 * generator): initial sequence numbers, local ports, anything else. The same seed and the
 * same calls must give the same packets, byte for byte.
 *
 * The wire. Packets are whole IPv4 datagrams (no link-layer header) carrying TCP, with
 * correct IP and TCP checksums, at most config.mtu bytes. hil_fw_input() hands the
 * firmware one received packet; the firmware sends through host->transmit(). The host
 * only queues what transmit() gives it and delivers it through the simulated link later:
 * it never calls back into the firmware from inside a callback, and the firmware must not
 * call hil_fw_* from inside one either (no re-entry, in either direction).
 *
 * Jobs and outcomes. hil_fw_submit() hands the firmware's application one mail job. Every
 * job ends with exactly one terminal event through host->event(): SENT, COMMAND_ABORT,
 * ERROR (with a kind) or TIMEOUT, the harness's own vocabulary, so a scenario's [expect]
 * judges a C firmware the way it judges the Python model. Fill in what the client knows
 * (the reply code, the command, the reply text) and leave the rest empty (0, "", NULL):
 * an expectation about something the firmware does not report fails, it is never guessed.
 * Progress events (CONNECTED, AUTHENTICATED, RECIPIENT_REJECTED) are optional.
 *
 * The buffer pool. The firmware's receive buffer pool holds config.pool_buffers buffers.
 * Every allocation, free, failed allocation and frame dropped for want of a buffer is
 * reported through host->pool(), in the order it happens, with a buffer id the firmware
 * chooses (unique among the buffers taken at one time). The host mirrors them into the
 * board's pool records, so the pool checks of a scenario (pool_never_exhausted,
 * pool_returns_to_full) and the pool chart read a C firmware's pool like the model's.
 *
 * Assertions. When the firmware's own consistency check fails it records file, line and
 * message, stops, and the entry point that was running returns HIL_FW_ASSERTION_FAILED;
 * hil_fw_get_fault() then describes it, and the host calls nothing else. (lwIP's glue does
 * this with LWIP_PLATFORM_ASSERT and longjmp back to the entry point.) A firmware that
 * abort()s instead still ends as a verdict, without the file and line.
 *
 * Capabilities. hil_fw_capabilities() declares what the client can do; a scenario that
 * needs anything else (STARTTLS, PIPELINING, ...) is "not applicable" to the firmware,
 * shown as such and never counted as a pass or a fail.
 *
 * Strings are NUL-terminated UTF-8 (ASCII in practice); pointers handed to the firmware
 * are valid only during the call: copy what you keep. Pointers the firmware hands to a
 * callback are valid only during that callback.
 */
#ifndef HIL_FIRMWARE_H
#define HIL_FIRMWARE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HIL_FW_ABI_VERSION 1u

#if defined(__GNUC__)
#define HIL_FW_API __attribute__((visibility("default")))
#else
#define HIL_FW_API
#endif

/* ---- return status of every entry point -------------------------------------------- */
enum hil_fw_status {
    HIL_FW_OK = 0,
    HIL_FW_INVALID = 1,          /* a bad argument or configuration; error text says why */
    HIL_FW_STOPPED = 2,          /* called after a fault, or before a successful init */
    HIL_FW_ASSERTION_FAILED = 3  /* the firmware's assertion failed during this call */
};

/* ---- capabilities (a bit set) -------------------------------------------------------- */
enum hil_fw_capability {
    HIL_FW_CAP_STARTTLS = 1u << 0,
    HIL_FW_CAP_IMPLICIT_TLS = 1u << 1,
    HIL_FW_CAP_PIPELINING = 1u << 2,
    HIL_FW_CAP_CHUNKING = 1u << 3,
    HIL_FW_CAP_DSN = 1u << 4,
    HIL_FW_CAP_VRFY = 1u << 5,
    HIL_FW_CAP_ETRN = 1u << 6,
    HIL_FW_CAP_AUTH_PLAIN = 1u << 7,
    HIL_FW_CAP_AUTH_LOGIN = 1u << 8,
    HIL_FW_CAP_AUTH_CRAM_MD5 = 1u << 9,
    HIL_FW_CAP_AUTH_ANONYMOUS = 1u << 10,
    HIL_FW_CAP_AUTH_XOAUTH2 = 1u << 11,
    HIL_FW_CAP_MULTIPLE_RECIPIENTS = 1u << 12, /* more than one RCPT per mail */
    HIL_FW_CAP_CC_BCC_REPLY_TO = 1u << 13,     /* Cc, Bcc and Reply-To in a job */
    HIL_FW_CAP_ATTACHMENTS = 1u << 14,
    HIL_FW_CAP_SENDER_NAME = 1u << 15,         /* a display name in From: */
    HIL_FW_CAP_CONFIG_VERSION = 1u << 16       /* checks a configuration header version */
};

/* ---- configuration, given once ------------------------------------------------------- */
typedef struct hil_fw_config {
    uint32_t abi_version;     /* HIL_FW_ABI_VERSION of the host */
    uint64_t now_ms;          /* virtual time of the call */
    uint32_t seed;            /* the only source of randomness */
    uint8_t ip[4];            /* the device's IPv4 address, network order */
    uint8_t netmask[4];
    uint8_t gateway[4];
    uint16_t mtu;             /* largest IPv4 packet, bytes */
    uint16_t pool_buffers;    /* receive buffer pool: number of buffers */
    uint16_t buffer_size;     /* receive buffer pool: bytes per buffer */
    uint8_t server_ip[4];     /* the SMTP server */
    uint16_t server_port;
    const char *domain;       /* EHLO name; "" = use the address literal */
    const char *hostname;     /* host name (Message-ID, if the client writes one) */
    const char *username;     /* NULL when no credentials are configured */
    const char *password;     /* NULL when none */
    const char *options;      /* firmware-specific "key=value" lines ("" for none) */
} hil_fw_config;

/* ---- a mail job --------------------------------------------------------------------- */
typedef struct hil_fw_job {
    uint32_t job_id;
    const char *sender;
    const char *const *recipients;  /* "To" addresses */
    uint32_t recipient_count;
    const char *subject;
    const uint8_t *body;            /* line ends are CRLF; not NUL-terminated */
    size_t body_len;
} hil_fw_job;

/* ---- events ------------------------------------------------------------------------- */
enum hil_fw_event_kind {
    HIL_FW_EV_SENT = 1,               /* terminal: the server accepted the mail */
    HIL_FW_EV_COMMAND_ABORT = 2,      /* terminal: the server refused a command */
    HIL_FW_EV_ERROR = 3,              /* terminal: see error_kind */
    HIL_FW_EV_TIMEOUT = 4,            /* terminal: no reply in time */
    HIL_FW_EV_CONNECTED = 5,          /* progress */
    HIL_FW_EV_AUTHENTICATED = 6,      /* progress: command holds the mechanism */
    HIL_FW_EV_RECIPIENT_REJECTED = 7  /* progress: command holds the address */
};

/* The harness's error kinds (smtp.events.ErrorKind), in this order. An HIL_FW_EV_ERROR
 * must carry one of them: NONE or RESERVED_11 there (or any other value) breaks the
 * contract, and the harness drops the event and fails the run saying so. */
enum hil_fw_error_kind {
    HIL_FW_ERR_NONE = 0,
    HIL_FW_ERR_TLS_FAILED = 1,
    HIL_FW_ERR_TLS_REQUIRED = 2,
    HIL_FW_ERR_AUTH_FAILED = 3,
    HIL_FW_ERR_PROTOCOL = 4,
    HIL_FW_ERR_SIZE_EXCEEDED = 5,
    HIL_FW_ERR_CONNECTION_LOST = 6,
    HIL_FW_ERR_CONNECTION_REFUSED = 7,
    HIL_FW_ERR_SERVICE_UNAVAILABLE = 8,
    HIL_FW_ERR_UNSUPPORTED = 9,
    HIL_FW_ERR_INVALID_INPUT = 10,
    HIL_FW_ERR_RESERVED_11 = 11,      /* unused: every RCPT rejected is COMMAND_ABORT */
    HIL_FW_ERR_OUT_OF_MEMORY = 12     /* the firmware ran out of its own memory */
};

typedef struct hil_fw_event {
    uint32_t job_id;
    uint32_t kind;            /* enum hil_fw_event_kind */
    uint32_t error_kind;      /* enum hil_fw_error_kind, for HIL_FW_EV_ERROR */
    uint32_t reply_code;      /* the server's reply code, 0 when the client does not know */
    const char *command;      /* the command concerned, "" when unknown */
    const char *reply_text;   /* the reply's text, "" when unknown */
    const char *detail;       /* the firmware's own words: its raw result codes */
} hil_fw_event;

/* ---- the buffer pool ------------------------------------------------------------------ */
enum hil_fw_pool_op {
    HIL_FW_POOL_ALLOC = 1,      /* a buffer was taken (buffer_id, purpose) */
    HIL_FW_POOL_FREE = 2,       /* buffer buffer_id was given back */
    HIL_FW_POOL_EXHAUSTED = 3,  /* an allocation failed: the pool was empty (purpose) */
    HIL_FW_POOL_DROP = 4        /* a received frame was dropped for want of a buffer */
};

typedef struct hil_fw_pool_stats {
    uint32_t count;             /* buffers in the pool (config.pool_buffers) */
    uint32_t size;              /* bytes per buffer */
    uint32_t in_use;
    uint32_t peak_in_use;
    uint32_t allocations;
    uint32_t failed_allocations;
    uint32_t frames_dropped;
} hil_fw_pool_stats;

/* ---- what the host provides ----------------------------------------------------------- */
typedef struct hil_fw_host {
    void *ctx;  /* passed back to every callback */
    /* One IPv4 packet to the link (queued; delivered later by the simulation). */
    void (*transmit)(void *ctx, const uint8_t *packet, size_t len);
    /* One client event (see hil_fw_event). */
    void (*event)(void *ctx, const hil_fw_event *event);
    /* One buffer-pool operation (see enum hil_fw_pool_op). */
    void (*pool)(void *ctx, uint32_t op, uint32_t buffer_id, const char *purpose);
    /* A line of the firmware's own log (debug output); may be NULL. */
    void (*log)(void *ctx, const char *line);
} hil_fw_host;

/* ---- a fault ----------------------------------------------------------------------- */
typedef struct hil_fw_fault {
    const char *file;     /* base name of the source file, e.g. "smtp.c" */
    uint32_t line;
    const char *message;  /* the assertion's text */
} hil_fw_fault;

/* ---- the entry points ---------------------------------------------------------------- */

/* The firmware's name and version, e.g. "lwIP 2.1.3 (apps/smtp)". Callable any time. */
HIL_FW_API const char *hil_fw_describe(void);

/* The HIL_FW_CAP_* bits of what the client can do. Callable any time. */
HIL_FW_API uint32_t hil_fw_capabilities(void);

/* Start the device. On HIL_FW_INVALID, error (error_len bytes) says why, naming the
 * config field or option; the host reports it as bad input. host is copied. */
HIL_FW_API int hil_fw_init(const hil_fw_host *host, const hil_fw_config *config,
                           char *error, size_t error_len);

/* One received IPv4 packet. */
HIL_FW_API int hil_fw_input(uint64_t now_ms, const uint8_t *packet, size_t len);

/* Run whatever is due at now_ms (timers). */
HIL_FW_API int hil_fw_advance(uint64_t now_ms);

/* The virtual time of the next timer in *deadline_ms; returns HIL_FW_OK, or
 * HIL_FW_INVALID when no timer is pending (then *deadline_ms is untouched). */
HIL_FW_API int hil_fw_next_deadline(uint64_t *deadline_ms);

/* Hand the application one mail job. Its outcome comes later through host->event(), or
 * at once (also through host->event()) when the client refuses it. */
HIL_FW_API int hil_fw_submit(uint64_t now_ms, const hil_fw_job *job);

/* The receive buffer pool's statistics now. */
HIL_FW_API int hil_fw_get_pool_stats(hil_fw_pool_stats *out);

/* After HIL_FW_ASSERTION_FAILED: where and why. Returns HIL_FW_INVALID when there was
 * no fault. */
HIL_FW_API int hil_fw_get_fault(hil_fw_fault *out);

#ifdef __cplusplus
}
#endif

#endif /* HIL_FIRMWARE_H */
