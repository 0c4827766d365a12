/*
 * hil_lwip.c -- lwIP 2.1.3 and its SMTP client (apps/smtp/smtp.c) as an smtp-hil firmware:
 * the instance. hil_fw_describe, hil_fw_capabilities and hil_fw_init, which checks the
 * host's configuration and then starts each piece of the glue in order: the clock and the
 * seed, lwIP itself, the pool, the network interface, the SMTP client.
 *
 * The rest of include/hil_firmware.h is implemented where its concern lives (the map of
 * the files is in hil_lwip_glue.h): hil_fw_input in hil_lwip_netif.c, hil_fw_advance and
 * hil_fw_next_deadline in hil_lwip_time.c, hil_fw_submit in hil_lwip_smtp.c,
 * hil_fw_get_pool_stats in hil_lwip_pool.c, hil_fw_get_fault in hil_lwip_fault.c.
 */
#include "hil_lwip_glue.h"

#include "lwip/init.h"
#include "lwip/pbuf.h"

#include <stdio.h>

#define HIL_DESCRIPTION "lwIP " LWIP_VERSION_STRING " (apps/smtp, raw API, NO_SYS)"

hil_fw_host hil_lwip_host;

HIL_FW_API const char *hil_fw_describe(void)
{
    return HIL_DESCRIPTION;
}

HIL_FW_API uint32_t hil_fw_capabilities(void)
{
    return HIL_FW_CAP_AUTH_PLAIN | HIL_FW_CAP_AUTH_LOGIN;
}

static int check_config(const hil_fw_host *host, const hil_fw_config *config, char *error,
                        size_t error_len)
{
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
    if (hil_lwip_smtp_check(config, error, error_len) != HIL_FW_OK) {
        return HIL_FW_INVALID;
    }
    return hil_lwip_parse_options(config->options, error, error_len);
}

HIL_FW_API int hil_fw_init(const hil_fw_host *host, const hil_fw_config *config,
                           char *error, size_t error_len)
{
    if (hil_lwip_state != HIL_UNINITIALISED) {
        snprintf(error, error_len, "this copy of the firmware was already started");
        return HIL_FW_STOPPED;
    }
    if (check_config(host, config, error, error_len) != HIL_FW_OK) {
        return HIL_FW_INVALID;
    }
    hil_lwip_host = *host;
    hil_lwip_set_now(config->now_ms);
    hil_lwip_seed(config->seed);
    hil_lwip_state = HIL_RUNNING;
    HIL_GUARDED({
        lwip_init();
        hil_lwip_pool_start(config->pool_buffers);
        hil_lwip_netif_start(config);
        hil_lwip_smtp_start(config);
    });
    return HIL_FW_OK;
}
