# Builds lwIP 2.1.3 with apps/smtp and our glue into one shared library (a firmware for
# smtp-hil's C firmware adapter). Called by the top-level Makefile's `lwip` target:
#
#   make -f emulator/cfirmware/lwip/build.mk LWIP_SRC_DIR=/path/to/lwip OUT=build/lwip
#
# LWIP_SRC_DIR is the tree holding src/ (fetched by fetch-lwip.sh, never in the repo).
LWIP_SRC_DIR ?= $(error LWIP_SRC_DIR is not set)
OUT          ?= build/lwip
CC           ?= gcc
HERE         := emulator/cfirmware/lwip
LIB          := $(OUT)/libhil_lwip.so
OBJ_DIR      := $(OUT)/obj

LWIP_FILES := core/init.c core/def.c core/inet_chksum.c core/ip.c core/mem.c core/memp.c \
              core/netif.c core/pbuf.c core/stats.c core/tcp.c core/tcp_in.c core/tcp_out.c \
              core/timeouts.c core/ipv4/icmp.c core/ipv4/ip4.c core/ipv4/ip4_addr.c \
              apps/smtp/smtp.c
GLUE_FILES := $(wildcard $(HERE)/hil_lwip*.c)

CFLAGS  := -std=gnu99 -O2 -g -fPIC -fvisibility=hidden -Wall -Wextra -Werror
INCLUDE := -Iemulator/cfirmware/include -I$(HERE) -I$(LWIP_SRC_DIR)/src/include
LDFLAGS := -shared -Wl,-z,defs -Wl,--wrap=memp_malloc -Wl,--wrap=memp_free

LWIP_OBJS := $(patsubst %.c,$(OBJ_DIR)/lwip/%.o,$(LWIP_FILES))
GLUE_OBJS := $(patsubst $(HERE)/%.c,$(OBJ_DIR)/glue/%.o,$(GLUE_FILES))
HEADERS   := $(wildcard $(HERE)/*.h $(HERE)/arch/*.h emulator/cfirmware/include/*.h)

$(LIB): $(LWIP_OBJS) $(GLUE_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^

$(OBJ_DIR)/lwip/%.o: $(LWIP_SRC_DIR)/src/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INCLUDE) -c -o $@ $<

$(OBJ_DIR)/glue/%.o: $(HERE)/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INCLUDE) -c -o $@ $<
