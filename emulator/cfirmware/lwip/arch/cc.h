/*
 * arch/cc.h -- lwIP's architecture header for the smtp-hil board (gcc on Linux, hosted).
 *
 * Assertions go to the glue (hil_lwip_fault.c), which records file, line and message and
 * returns from the running hil_fw_* entry point with HIL_FW_ASSERTION_FAILED; the harness
 * turns that into the run's verdict ("firmware assertion failed at smtp.c:NNN: ...").
 * Randomness (the first local port) comes from the run's seed, never from the OS.
 */
#ifndef HIL_LWIP_ARCH_CC_H
#define HIL_LWIP_ARCH_CC_H

#include <stdlib.h>

void hil_lwip_assert_failed(const char *message, const char *file, int line);
void hil_lwip_diag(const char *format, ...) __attribute__((format(printf, 1, 2)));
unsigned int hil_lwip_rand(void);

#define LWIP_PLATFORM_ASSERT(message) hil_lwip_assert_failed((message), __FILE__, __LINE__)
#define LWIP_PLATFORM_DIAG(args) hil_lwip_diag args
#define LWIP_RAND() ((u32_t)hil_lwip_rand())

#endif /* HIL_LWIP_ARCH_CC_H */
