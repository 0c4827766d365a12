/* hil_lwip_hooks.h -- prototypes of the lwIP hooks the glue implements (LWIP_HOOK_FILENAME). */
#ifndef HIL_LWIP_HOOKS_H
#define HIL_LWIP_HOOKS_H

#include "lwip/ip_addr.h"

u32_t hil_lwip_tcp_isn(const ip_addr_t *local_ip, u16_t local_port,
                       const ip_addr_t *remote_ip, u16_t remote_port);

#endif /* HIL_LWIP_HOOKS_H */
