/*
 * hil_lwip_options.c -- the firmware's own settings: config.options, "key=value" lines
 * (a scenario's [device] firmware_options). Each key goes to the file that owns it; an
 * unknown key, a line without '=' or a value the owner refuses is HIL_FW_INVALID with a
 * message naming it. Keys: smtp_api (hil_lwip_smtp.c).
 *
 * This file knows the options' syntax; what each one means belongs to its owner.
 */
#include "hil_lwip_glue.h"

#include <stdio.h>
#include <string.h>

int hil_lwip_parse_options(const char *options, char *error, size_t error_len)
{
    const char *line = options != NULL ? options : "";
    while (*line != '\0') {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        char item[128];
        char *value;
        if (len == 0) {
            line = end != NULL ? end + 1 : line + len;
            continue;
        }
        if (len >= sizeof item) {
            snprintf(error, error_len, "options: line too long: %.40s...", line);
            return HIL_FW_INVALID;
        }
        memcpy(item, line, len);
        item[len] = '\0';
        value = strchr(item, '=');
        if (value == NULL) {
            snprintf(error, error_len, "options: expected key=value, got '%s'", item);
            return HIL_FW_INVALID;
        }
        *value++ = '\0';
        if (strcmp(item, "smtp_api") == 0) {
            if (hil_lwip_smtp_option_api(value, error, error_len) != HIL_FW_OK) {
                return HIL_FW_INVALID;
            }
        } else {
            snprintf(error, error_len, "options: unknown key '%s' (known: smtp_api)", item);
            return HIL_FW_INVALID;
        }
        line = end != NULL ? end + 1 : line + len;
    }
    return HIL_FW_OK;
}
