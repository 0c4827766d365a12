/*
 * lwipopts.h -- lwIP 2.1.3 options for the smtp-hil board (emulator/cfirmware/lwip).
 *
 * NO_SYS raw API, IPv4 and TCP only, an IP-only network interface (no ARP, no Ethernet:
 * the glue hands whole IPv4 packets to the simulated link), no DNS (the server is a
 * dotted quad), no sockets/netconn, no altcp (so no TLS: STARTTLS and implicit TLS are
 * not applicable to this firmware). apps/smtp needs LWIP_TCP and LWIP_CALLBACK_API.
 *
 * The pbuf pool is compiled at HIL_LWIP_POOL_MAX buffers of 1536 bytes; at init the glue
 * takes back all but the scenario's pool_buffers (hil_lwip_pool.c), so the pool a run sees is
 * exactly the scenario's, allocation by allocation.
 */
#ifndef HIL_LWIPOPTS_H
#define HIL_LWIPOPTS_H

#define NO_SYS                          1
#define SYS_LIGHTWEIGHT_PROT            0
#define LWIP_NETCONN                    0
#define LWIP_SOCKET                     0
#define LWIP_ARP                        0
#define LWIP_ETHERNET                   0
#define LWIP_IPV4                       1
#define LWIP_IPV6                       0
#define LWIP_DNS                        0
#define LWIP_DHCP                       0
#define LWIP_AUTOIP                     0
#define LWIP_IGMP                       0
#define LWIP_UDP                        0
#define LWIP_RAW                        0
#define LWIP_ICMP                       1
#define LWIP_TCP                        1
#define LWIP_CALLBACK_API               1
#define LWIP_ALTCP                      0
#define IP_REASSEMBLY                   0
#define IP_FRAG                         0
#define LWIP_NETIF_LOOPBACK             0
#define LWIP_HAVE_LOOPIF                0

/* Memory. MEM_SIZE holds every PBUF_RAM (outgoing segments), the SMTP session and, for
 * smtp_api=copy, the whole mail; it must exceed TCP_SND_BUF. */
#define MEM_ALIGNMENT                   8
#define MEM_SIZE                        (160 * 1024)
#define HIL_LWIP_POOL_MAX               256
#define PBUF_POOL_SIZE                  HIL_LWIP_POOL_MAX
#define PBUF_POOL_BUFSIZE               1536
#define MEMP_NUM_TCP_PCB                5
#define MEMP_NUM_TCP_PCB_LISTEN         1
#define MEMP_NUM_TCP_SEG                64
#define MEMP_NUM_SYS_TIMEOUT            8

/* TCP */
#define TCP_MSS                         1460
#define TCP_WND                         (4 * TCP_MSS)
#define TCP_SND_BUF                     (4 * TCP_MSS)
#define TCP_SND_QUEUELEN                ((4 * (TCP_SND_BUF) + (TCP_MSS - 1)) / (TCP_MSS))
#define TCP_QUEUE_OOSEQ                 1
#define LWIP_TCP_TIMESTAMPS             0
#define LWIP_WND_SCALE                  0
/* A pool smaller than the window (a scenario's small pool_buffers) is the point. */
#define LWIP_DISABLE_TCP_SANITY_CHECKS  1

/* Statistics: memp statistics are cross-checked against the pool records. */
#define LWIP_STATS                      1
#define MEMP_STATS                      1
#define LWIP_STATS_DISPLAY              0

/* Checksums: computed and checked in software, as on a board without offload. */
#define CHECKSUM_GEN_IP                 1
#define CHECKSUM_GEN_TCP                1
#define CHECKSUM_CHECK_IP               1
#define CHECKSUM_CHECK_TCP              1

/* apps/smtp */
#define SMTP_BODYDH                     1
#define SMTP_CHECK_DATA                 1
#define SMTP_SUPPORT_AUTH_PLAIN         1
#define SMTP_SUPPORT_AUTH_LOGIN         1

/* Hooks: the initial sequence number comes from the run's seed (hil_lwip_random.c). */
#define LWIP_HOOK_FILENAME              "hil_lwip_hooks.h"
#define LWIP_HOOK_TCP_ISN(local_ip, local_port, remote_ip, remote_port) \
    hil_lwip_tcp_isn((local_ip), (local_port), (remote_ip), (remote_port))

#endif /* HIL_LWIPOPTS_H */
