/*
 * hil_lwip_time.c -- virtual time and lwIP's timers.
 *
 * lwIP has no clock of its own here: sys_now() returns the now_ms of the running entry
 * point (the kernel's virtual milliseconds), and nothing advances between calls. The host
 * asks hil_fw_next_deadline() after every call (sys_timeouts_sleeptime()) and calls
 * hil_fw_advance() exactly at that virtual time, which runs sys_check_timeouts(): lwIP's
 * timers fire at the virtual time lwIP means, and idle time costs nothing.
 *
 * This file knows the clock and lwIP's timeout list; nothing about packets or SMTP.
 */
#include "hil_lwip_glue.h"

#include "lwip/timeouts.h"

static u32_t g_now_ms;

void hil_lwip_set_now(uint64_t now_ms)
{
    g_now_ms = (u32_t)now_ms;
}

u32_t sys_now(void)
{
    return g_now_ms;
}

HIL_FW_API int hil_fw_advance(uint64_t now_ms)
{
    HIL_GUARDED({
        hil_lwip_set_now(now_ms);
        sys_check_timeouts();
    });
    return HIL_FW_OK;
}

HIL_FW_API int hil_fw_next_deadline(uint64_t *deadline_ms)
{
    u32_t sleep;
    if (hil_lwip_state != HIL_RUNNING) {
        return HIL_FW_STOPPED;
    }
    sleep = sys_timeouts_sleeptime();
    if (sleep == SYS_TIMEOUTS_SLEEPTIME_INFINITE) {
        return HIL_FW_INVALID;
    }
    *deadline_ms = (uint64_t)g_now_ms + sleep;
    return HIL_FW_OK;
}
