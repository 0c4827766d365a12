/*
 * hil_lwip_netif.c -- the wire: lwIP's network interface on the simulated link.
 *
 * An IP-only netif (no ARP, no Ethernet): its output copies each IPv4 packet and hands it
 * to the host's transmit(), which only queues (the link delivers it later, as a kernel
 * event, so nothing re-enters lwIP). hil_fw_input() puts a received packet into a
 * PBUF_POOL pbuf, as a NIC driver does (no buffer: the frame is dropped and reported),
 * and gives it to ip4_input().
 *
 * This file knows the netif and pbufs; nothing about SMTP or the pool's accounting.
 */
#include "hil_lwip_glue.h"

#include "lwip/init.h"
#include "lwip/ip4.h"
#include "lwip/ip4_addr.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"

#define HIL_MAX_PACKET 65535u

static struct netif g_netif;
static u8_t g_packet[HIL_MAX_PACKET];
static u16_t g_mtu;

static err_t netif_output_ip4(struct netif *netif, struct pbuf *p, const ip4_addr_t *ipaddr)
{
    u16_t len;
    LWIP_UNUSED_ARG(netif);
    LWIP_UNUSED_ARG(ipaddr);
    len = pbuf_copy_partial(p, g_packet, p->tot_len, 0);
    if (len != p->tot_len) {
        return ERR_BUF;
    }
    hil_lwip_host.transmit(hil_lwip_host.ctx, g_packet, len);
    return ERR_OK;
}

static err_t netif_setup(struct netif *netif)
{
    netif->name[0] = 'h';
    netif->name[1] = 'l';
    netif->output = netif_output_ip4;
    netif->mtu = g_mtu;
    netif->flags = NETIF_FLAG_UP | NETIF_FLAG_LINK_UP;
    return ERR_OK;
}

void hil_lwip_netif_start(const hil_fw_config *config)
{
    ip4_addr_t ip, netmask, gateway;
    g_mtu = config->mtu;
    IP4_ADDR(&ip, config->ip[0], config->ip[1], config->ip[2], config->ip[3]);
    IP4_ADDR(&netmask, config->netmask[0], config->netmask[1], config->netmask[2],
             config->netmask[3]);
    IP4_ADDR(&gateway, config->gateway[0], config->gateway[1], config->gateway[2],
             config->gateway[3]);
    netif_add(&g_netif, &ip, &netmask, &gateway, NULL, netif_setup, ip4_input);
    netif_set_default(&g_netif);
    netif_set_up(&g_netif);
    netif_set_link_up(&g_netif);
}

HIL_FW_API int hil_fw_input(uint64_t now_ms, const uint8_t *packet, size_t len)
{
    HIL_GUARDED({
        struct pbuf *p;
        hil_lwip_set_now(now_ms);
        if (len == 0 || len > HIL_MAX_PACKET) {
            hil_lwip_guard = NULL;
            return HIL_FW_INVALID;
        }
        hil_lwip_pool_purpose("rx");
        p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_POOL);
        hil_lwip_pool_purpose("lwip");
        if (p == NULL) {
            hil_lwip_pool_frame_dropped();
        } else {
            pbuf_take(p, packet, (u16_t)len);
            if (g_netif.input(p, &g_netif) != ERR_OK) {
                pbuf_free(p);
            }
        }
    });
    return HIL_FW_OK;
}
