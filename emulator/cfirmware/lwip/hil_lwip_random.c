/*
 * hil_lwip_random.c -- the instance's only randomness, from the run's seed.
 *
 * A xorshift32 generator (Marsaglia) seeded with config.seed (drawn from the kernel's
 * seeded generator) gives the initial sequence numbers (LWIP_HOOK_TCP_ISN, lwipopts.h;
 * LWIP_RAND alone does not reach them) and LWIP_RAND (arch/cc.h: the first local port).
 * The same seed and the same calls give the same packets, in every process.
 *
 * This file knows the generator; nothing else.
 */
#include "hil_lwip_glue.h"
#include "hil_lwip_hooks.h"

static u32_t g_rng = 1;

void hil_lwip_seed(uint32_t seed)
{
    g_rng = seed != 0 ? seed : 0x9e3779b9u; /* xorshift never leaves 0 */
}

static u32_t next_random(void)
{
    /* xorshift32 (Marsaglia); g_rng is never 0. */
    u32_t x = g_rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    g_rng = x;
    return x;
}

unsigned int hil_lwip_rand(void)
{
    return (unsigned int)next_random();
}

u32_t hil_lwip_tcp_isn(const ip_addr_t *local_ip, u16_t local_port,
                       const ip_addr_t *remote_ip, u16_t remote_port)
{
    LWIP_UNUSED_ARG(local_ip);
    LWIP_UNUSED_ARG(local_port);
    LWIP_UNUSED_ARG(remote_ip);
    LWIP_UNUSED_ARG(remote_port);
    return next_random();
}
