/*
 * hil_lwip_glue.h -- what the files of lwIP's glue share with one another (internal: the
 * host sees only include/hil_firmware.h).
 *
 * The glue implements include/hil_firmware.h over lwIP 2.1.3's raw API with NO_SYS=1, one
 * concern per file:
 *
 *   hil_lwip.c         the instance: describe, capabilities, hil_fw_init (checks the
 *                      configuration, then starts every piece below in order).
 *   hil_lwip_options.c config.options, "key=value" lines, handed to the piece that owns
 *                      each key (only smtp_api today).
 *   hil_lwip_fault.c   the guard around every entry point that runs lwIP code, lwIP's
 *                      assertion hook (LWIP_PLATFORM_ASSERT: record file, line, message,
 *                      longjmp back to the entry point), LWIP_PLATFORM_DIAG, and
 *                      hil_fw_get_fault.
 *   hil_lwip_time.c    virtual time (sys_now returns the now_ms of the running entry
 *                      point) and lwIP's timers: hil_fw_advance, hil_fw_next_deadline.
 *   hil_lwip_random.c  the seeded xorshift generator behind the ISN hook
 *                      (LWIP_HOOK_TCP_ISN) and LWIP_RAND (the first local port).
 *   hil_lwip_pool.c    the PBUF_POOL as the host sees it: the buffers withheld for good,
 *                      memp_malloc/memp_free wrapped at link time (-Wl,--wrap), every
 *                      allocation, free, failure and dropped frame reported in order,
 *                      hil_fw_get_pool_stats.
 *   hil_lwip_netif.c   the IP-only network interface: output to the host's transmit()
 *                      (which only queues), hil_fw_input (a received packet into a
 *                      PBUF_POOL pbuf, as a NIC driver does, then ip4_input).
 *   hil_lwip_smtp.c    the application: jobs handed to apps/smtp/smtp.c through the API
 *                      smtp_api chooses, the client's result callback as one terminal
 *                      event, hil_fw_submit.
 *
 * One loaded copy of the library is one device: each file keeps its state in its own
 * static globals; the few shared ones are declared here.
 */
#ifndef HIL_LWIP_GLUE_H
#define HIL_LWIP_GLUE_H

#include "hil_firmware.h"

#include "lwip/arch.h"

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

/* ---- hil_lwip.c: the instance ------------------------------------------------------ */
extern hil_fw_host hil_lwip_host;

/* ---- hil_lwip_fault.c: the guard ---------------------------------------------------- */
enum hil_state { HIL_UNINITIALISED, HIL_RUNNING, HIL_FAULTED };
extern enum hil_state hil_lwip_state;
extern jmp_buf *hil_lwip_guard;

/* Every exported entry point that runs lwIP code is wrapped so that an assertion inside it
 * returns here. The instance never runs again after that (lwIP's state is unknown). A
 * return from inside the body must clear hil_lwip_guard first. */
#define HIL_GUARDED(...)                                    \
    do {                                                    \
        jmp_buf guard;                                      \
        if (hil_lwip_state != HIL_RUNNING) {                \
            return HIL_FW_STOPPED;                          \
        }                                                   \
        if (setjmp(guard) != 0) {                           \
            hil_lwip_guard = NULL;                          \
            hil_lwip_state = HIL_FAULTED;                   \
            return HIL_FW_ASSERTION_FAILED;                 \
        }                                                   \
        hil_lwip_guard = &guard;                            \
        __VA_ARGS__;                                        \
        hil_lwip_guard = NULL;                              \
    } while (0)

/* snprintf of text (NULL as "") into target, truncated to size. */
void hil_lwip_copy_text(char *target, size_t size, const char *text);

/* ---- hil_lwip_time.c ------------------------------------------------------------------ */
void hil_lwip_set_now(uint64_t now_ms);

/* ---- hil_lwip_random.c ---------------------------------------------------------------- */
void hil_lwip_seed(uint32_t seed);

/* ---- hil_lwip_pool.c ------------------------------------------------------------------ */
/* Takes back all but pool_buffers of the compiled pool for good, then reports every
 * PBUF_POOL operation from here on. Runs inside the guard, after lwip_init(). */
void hil_lwip_pool_start(uint32_t pool_buffers);
/* What the next pool allocations are for, as the host's pool records say ("rx", "lwip"). */
void hil_lwip_pool_purpose(const char *purpose);
void hil_lwip_pool_frame_dropped(void);

/* ---- hil_lwip_netif.c ----------------------------------------------------------------- */
void hil_lwip_netif_start(const hil_fw_config *config);

/* ---- hil_lwip_smtp.c ------------------------------------------------------------------ */
/* Checks the configuration's credentials against smtp.c's limits. */
int hil_lwip_smtp_check(const hil_fw_config *config, char *error, size_t error_len);
/* The option smtp_api (HIL_FW_OK, or HIL_FW_INVALID with the error written). */
int hil_lwip_smtp_option_api(const char *value, char *error, size_t error_len);
/* The server's address and port, and the credentials, given to smtp.c. */
void hil_lwip_smtp_start(const hil_fw_config *config);

/* ---- hil_lwip_options.c --------------------------------------------------------------- */
int hil_lwip_parse_options(const char *options, char *error, size_t error_len);

#endif /* HIL_LWIP_GLUE_H */
