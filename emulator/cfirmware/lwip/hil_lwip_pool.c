/*
 * hil_lwip_pool.c -- lwIP's PBUF_POOL as the host sees it.
 *
 * PBUF_POOL is compiled at HIL_LWIP_POOL_MAX buffers (lwipopts.h); at init this file takes
 * back all but config.pool_buffers of them, for good, so the pool a run sees is exactly
 * the scenario's. memp_malloc and memp_free are wrapped at link time (-Wl,--wrap, build.mk):
 * every PBUF_POOL allocation, free and failure, and every received frame dropped for want
 * of a buffer, reaches the host's pool() callback in the order it happens, with a buffer
 * id unique among the buffers in use, and is counted in hil_fw_get_pool_stats.
 *
 * This file knows lwIP's memory pools; nothing about TCP, the wire or SMTP.
 */
#include "hil_lwip_glue.h"

#include "lwip/memp.h"
#include "lwip/pbuf.h"

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

void *__real_memp_malloc(memp_t type);
void __real_memp_free(memp_t type, void *mem);
void *__wrap_memp_malloc(memp_t type);
void __wrap_memp_free(memp_t type, void *mem);

static void pool_report(u32_t op, u32_t id, const char *purpose)
{
    if (g_pool_reporting && hil_lwip_host.pool != NULL) {
        hil_lwip_host.pool(hil_lwip_host.ctx, op, id, purpose);
    }
}

void hil_lwip_pool_start(uint32_t pool_buffers)
{
    int i;
    for (i = 0; i < (int)(HIL_LWIP_POOL_MAX - pool_buffers); i++) {
        g_pool_withheld[i] = __real_memp_malloc(MEMP_PBUF_POOL);
        LWIP_ASSERT("hil: withholding pool buffers", g_pool_withheld[i] != NULL);
    }
    g_pool.count = pool_buffers;
    g_pool.size = PBUF_POOL_BUFSIZE;
    g_pool_reporting = 1;
}

void hil_lwip_pool_purpose(const char *purpose)
{
    g_pool_purpose = purpose;
}

void hil_lwip_pool_frame_dropped(void)
{
    g_pool.frames_dropped++;
    pool_report(HIL_FW_POOL_DROP, 0, "rx frame");
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

HIL_FW_API int hil_fw_get_pool_stats(hil_fw_pool_stats *out)
{
    if (out == NULL) {
        return HIL_FW_INVALID;
    }
    *out = g_pool;
    return HIL_FW_OK;
}
