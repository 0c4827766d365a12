/*
 * hil_lwip_fault.c -- a crash is a result: the guard around lwIP's code, lwIP's assertion
 * hook and its diagnostics, and hil_fw_get_fault.
 *
 * LWIP_PLATFORM_ASSERT (arch/cc.h) calls hil_lwip_assert_failed(), which records file,
 * line and message and longjmps back to the running entry point (HIL_GUARDED in
 * hil_lwip_glue.h); that entry point returns HIL_FW_ASSERTION_FAILED and the instance is
 * stopped for good. LWIP_PLATFORM_DIAG goes to the host's log().
 *
 * This file knows the guard and the fault record; nothing about TCP, the pool or SMTP.
 */
#include "hil_lwip_glue.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum hil_state hil_lwip_state = HIL_UNINITIALISED;
jmp_buf *hil_lwip_guard;

static char g_fault_file[128];
static char g_fault_message[256];
static u32_t g_fault_line;

void hil_lwip_copy_text(char *target, size_t size, const char *text)
{
    if (size == 0) {
        return;
    }
    snprintf(target, size, "%s", text != NULL ? text : "");
}

void hil_lwip_assert_failed(const char *message, const char *file, int line)
{
    const char *base = file != NULL ? strrchr(file, '/') : NULL;
    hil_lwip_copy_text(g_fault_file, sizeof g_fault_file, base != NULL ? base + 1 : file);
    hil_lwip_copy_text(g_fault_message, sizeof g_fault_message, message);
    g_fault_line = (u32_t)line;
    if (hil_lwip_guard != NULL) {
        longjmp(*hil_lwip_guard, 1);
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
    if (hil_lwip_host.log != NULL) {
        hil_lwip_host.log(hil_lwip_host.ctx, line);
    }
}

HIL_FW_API int hil_fw_get_fault(hil_fw_fault *out)
{
    if (out == NULL || hil_lwip_state != HIL_FAULTED) {
        return HIL_FW_INVALID;
    }
    out->file = g_fault_file;
    out->line = g_fault_line;
    out->message = g_fault_message;
    return HIL_FW_OK;
}
