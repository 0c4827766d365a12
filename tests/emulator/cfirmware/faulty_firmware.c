/*
 * faulty_firmware.c -- a C firmware that misbehaves on request, for the tests of the
 * harness's fault containment (test_faults.py compiles it with gcc).
 *
 * It implements hil_firmware.h minimally. hil_fw_submit() looks at the job's subject:
 *   "segfault"  writes through a null pointer (SIGSEGV)
 *   "abort"     calls abort() (SIGABRT)
 *   "hang"      never returns
 *   "assert"    reports its own assertion (HIL_FW_ASSERTION_FAILED, file and line)
 *   "garbage"   transmits three bytes that are no IPv4 packet, then reports an error
 *   anything else: reports the job sent (reply 250) without touching the network.
 */
#include "hil_firmware.h"

#include <stdlib.h>
#include <string.h>

static hil_fw_host g_host;
static int g_faulted;

HIL_FW_API const char *hil_fw_describe(void) { return "faulty test firmware"; }

HIL_FW_API uint32_t hil_fw_capabilities(void) { return 0; }

HIL_FW_API int hil_fw_init(const hil_fw_host *host, const hil_fw_config *config,
                           char *error, size_t error_len)
{
    (void)config;
    (void)error;
    (void)error_len;
    g_host = *host;
    return HIL_FW_OK;
}

HIL_FW_API int hil_fw_input(uint64_t now_ms, const uint8_t *packet, size_t len)
{
    (void)now_ms;
    (void)packet;
    (void)len;
    return g_faulted ? HIL_FW_STOPPED : HIL_FW_OK;
}

HIL_FW_API int hil_fw_advance(uint64_t now_ms)
{
    (void)now_ms;
    return g_faulted ? HIL_FW_STOPPED : HIL_FW_OK;
}

HIL_FW_API int hil_fw_next_deadline(uint64_t *deadline_ms)
{
    (void)deadline_ms;
    return HIL_FW_INVALID;
}

static void report(uint32_t job_id, uint32_t kind, uint32_t error_kind, uint32_t code,
                   const char *detail)
{
    hil_fw_event event = {job_id, kind, error_kind, code, "", "", detail};
    g_host.event(g_host.ctx, &event);
}

HIL_FW_API int hil_fw_submit(uint64_t now_ms, const hil_fw_job *job)
{
    (void)now_ms;
    if (strcmp(job->subject, "segfault") == 0) {
        *(volatile int *)(uintptr_t)0 = 1;
    } else if (strcmp(job->subject, "abort") == 0) {
        abort();
    } else if (strcmp(job->subject, "hang") == 0) {
        for (;;) {
        }
    } else if (strcmp(job->subject, "assert") == 0) {
        g_faulted = 1;
        return HIL_FW_ASSERTION_FAILED;
    } else if (strcmp(job->subject, "garbage") == 0) {
        g_host.transmit(g_host.ctx, (const uint8_t *)"xyz", 3);
        report(job->job_id, HIL_FW_EV_ERROR, HIL_FW_ERR_PROTOCOL, 0, "sent garbage");
    } else if (strncmp(job->subject, "error-kind-", 11) == 0) {
        report(job->job_id, HIL_FW_EV_ERROR, (uint32_t)strtoul(job->subject + 11, NULL, 10), 0,
               "odd kind");
    } else {
        report(job->job_id, HIL_FW_EV_SENT, HIL_FW_ERR_NONE, 250, "pretended");
    }
    return HIL_FW_OK;
}

HIL_FW_API int hil_fw_get_pool_stats(hil_fw_pool_stats *out)
{
    memset(out, 0, sizeof *out);
    return HIL_FW_OK;
}

HIL_FW_API int hil_fw_get_fault(hil_fw_fault *out)
{
    if (!g_faulted) {
        return HIL_FW_INVALID;
    }
    out->file = "faulty_firmware.c";
    out->line = 77;
    out->message = "the test asked for it";
    return HIL_FW_OK;
}
