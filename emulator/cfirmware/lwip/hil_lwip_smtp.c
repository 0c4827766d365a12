/*
 * hil_lwip_smtp.c -- the application: mail jobs on lwIP's SMTP client (apps/smtp/smtp.c).
 *
 * Each job is handed to the client at once, through the API the option smtp_api chooses:
 *   smtp_api=bodycback  smtp_send_mail_bodycback(): the body streamed 256 bytes at a time
 *                       by a callback (the default: any size, CRLF line ends allowed).
 *   smtp_api=copy       smtp_send_mail(): everything copied into one lwIP heap buffer.
 *   smtp_api=static     smtp_send_mail_static(): lwIP keeps pointers to our copy.
 *   With copy and static, SMTP_CHECK_DATA refuses CR, LF and 8-bit bytes in the body
 *   (ERR_ARG, reported as error invalid_input), as lwIP 2.1.3 does.
 * The client's result callback (smtp_result, srv_err, err) becomes one terminal event in
 * the harness's words (report_result()); a mail the send function refuses, too.
 *
 * This file knows smtp.c's API and the harness's event vocabulary; nothing about the
 * wire, the pool or time.
 */
#include "hil_lwip_glue.h"

#include "lwip/apps/smtp.h"
#include "lwip/def.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum hil_smtp_api { HIL_API_BODYCBACK, HIL_API_COPY, HIL_API_STATIC };

static enum hil_smtp_api g_smtp_api = HIL_API_BODYCBACK;

struct hil_job {
    u32_t id;
    char *sender;
    char *recipient;
    char *subject;
    char *body;       /* NUL-terminated copy (the copy and static APIs need a C string) */
    size_t body_len;
    size_t body_sent; /* bodycback: bytes handed to lwIP so far */
};

static void free_job(struct hil_job *job)
{
    free(job->sender);
    free(job->recipient);
    free(job->subject);
    free(job->body);
    free(job);
}

static char *copy_string(const char *text)
{
    size_t len = strlen(text != NULL ? text : "");
    char *out = malloc(len + 1);
    if (out != NULL) {
        memcpy(out, text != NULL ? text : "", len + 1);
    }
    return out;
}

static const char *err_name(err_t err)
{
    static const char *const names[] = {
        "ERR_OK", "ERR_MEM", "ERR_BUF", "ERR_TIMEOUT", "ERR_RTE", "ERR_INPROGRESS",
        "ERR_VAL", "ERR_WOULDBLOCK", "ERR_USE", "ERR_ALREADY", "ERR_ISCONN", "ERR_CONN",
        "ERR_IF", "ERR_ABRT", "ERR_RST", "ERR_CLSD", "ERR_ARG"};
    int index = -(int)err;
    if (index < 0 || index >= (int)LWIP_ARRAYSIZE(names)) {
        return "ERR_?";
    }
    return names[index];
}

static const char *result_name(u8_t result)
{
    static const char *const names[] = {
        "SMTP_RESULT_OK", "SMTP_RESULT_ERR_UNKNOWN", "SMTP_RESULT_ERR_CONNECT",
        "SMTP_RESULT_ERR_HOSTNAME", "SMTP_RESULT_ERR_CLOSED", "SMTP_RESULT_ERR_TIMEOUT",
        "SMTP_RESULT_ERR_SVR_RESP", "SMTP_RESULT_ERR_MEM"};
    return result < LWIP_ARRAYSIZE(names) ? names[result] : "SMTP_RESULT_?";
}

static void emit_event(u32_t job_id, u32_t kind, u32_t error_kind, u32_t reply_code,
                       const char *detail)
{
    hil_fw_event event;
    event.job_id = job_id;
    event.kind = kind;
    event.error_kind = error_kind;
    event.reply_code = reply_code;
    event.command = "";
    event.reply_text = "";
    event.detail = detail;
    hil_lwip_host.event(hil_lwip_host.ctx, &event);
}

/*
 * The client's outcome in the harness's words. smtp.c reports SMTP_RESULT_OK only from
 * state SMTP_QUIT on a 250 reply (the reply to the end of the content), so SENT carries
 * 250; it knows neither the command a refused reply answered nor any reply text, so
 * those stay empty. A refused connection reaches smtp.c as a reset (smtp_tcp_err with
 * ERR_RST), which it reports as SMTP_RESULT_ERR_CLOSED like any lost connection.
 */
static void report_result(void *arg, u8_t smtp_result, u16_t srv_err, err_t err)
{
    struct hil_job *job = (struct hil_job *)arg;
    char detail[160];
    u32_t kind = HIL_FW_EV_ERROR;
    u32_t error_kind = HIL_FW_ERR_NONE;
    u32_t reply_code = 0;
    snprintf(detail, sizeof detail, "smtp_result=%u (%s) srv_err=%u err=%d (%s)",
             (unsigned)smtp_result, result_name(smtp_result), (unsigned)srv_err, (int)err,
             err_name(err));
    switch (smtp_result) {
    case SMTP_RESULT_OK:
        kind = HIL_FW_EV_SENT;
        reply_code = 250;
        break;
    case SMTP_RESULT_ERR_SVR_RESP:
        kind = HIL_FW_EV_COMMAND_ABORT;
        reply_code = srv_err;
        break;
    case SMTP_RESULT_ERR_TIMEOUT:
        kind = HIL_FW_EV_TIMEOUT;
        break;
    case SMTP_RESULT_ERR_CLOSED:
        error_kind = HIL_FW_ERR_CONNECTION_LOST;
        break;
    case SMTP_RESULT_ERR_CONNECT:
    case SMTP_RESULT_ERR_HOSTNAME:
        error_kind = HIL_FW_ERR_CONNECTION_REFUSED;
        break;
    case SMTP_RESULT_ERR_MEM:
        error_kind = HIL_FW_ERR_OUT_OF_MEMORY;
        break;
    default:
        error_kind = HIL_FW_ERR_PROTOCOL;
        break;
    }
    emit_event(job->id, kind, error_kind, reply_code, detail);
    free_job(job);
}

/* The body, 256 bytes (SMTP_BODYDH_BUFFER_SIZE) per call, as smtp.c's example does. */
static int body_chunk(void *arg, struct smtp_bodydh *bdh)
{
    struct hil_job *job = (struct hil_job *)arg;
    size_t left = job->body_len - job->body_sent;
    size_t take = left < sizeof bdh->buffer ? left : sizeof bdh->buffer;
    memcpy(bdh->buffer, job->body + job->body_sent, take);
    bdh->length = (u16_t)take;
    job->body_sent += take;
    return job->body_sent < job->body_len ? BDH_WORKING : BDH_DONE;
}

static void refuse_job(u32_t job_id, u32_t error_kind, const char *why, err_t err)
{
    char detail[200];
    snprintf(detail, sizeof detail, "%s returned %d (%s)", why, (int)err, err_name(err));
    emit_event(job_id, HIL_FW_EV_ERROR, error_kind, 0, detail);
}

static void start_job(const hil_fw_job *spec)
{
    struct hil_job *job;
    err_t err;
    const char *api;
    if (spec->recipient_count != 1) {
        emit_event(spec->job_id, HIL_FW_EV_ERROR, HIL_FW_ERR_UNSUPPORTED, 0,
                   "lwIP's smtp_send_mail takes exactly one recipient");
        return;
    }
    job = calloc(1, sizeof *job);
    if (job == NULL) {
        refuse_job(spec->job_id, HIL_FW_ERR_OUT_OF_MEMORY, "malloc", ERR_MEM);
        return;
    }
    job->id = spec->job_id;
    job->sender = copy_string(spec->sender);
    job->recipient = copy_string(spec->recipients[0]);
    job->subject = copy_string(spec->subject);
    job->body = malloc(spec->body_len + 1);
    if (job->sender == NULL || job->recipient == NULL || job->subject == NULL
        || job->body == NULL) {
        free_job(job);
        refuse_job(spec->job_id, HIL_FW_ERR_OUT_OF_MEMORY, "malloc", ERR_MEM);
        return;
    }
    if (spec->body_len > 0) {
        memcpy(job->body, spec->body, spec->body_len);
    }
    job->body_len = spec->body_len;
    /* smtp.c ends the body with "\r\n.\r\n" itself: a body that already ends with a
     * line end is handed over without it, or the mail would gain an empty last line. */
    if (job->body_len >= 2 && job->body[job->body_len - 2] == '\r'
        && job->body[job->body_len - 1] == '\n') {
        job->body_len -= 2;
    }
    job->body[job->body_len] = '\0';
    switch (g_smtp_api) {
    case HIL_API_COPY:
        api = "smtp_send_mail";
        err = smtp_send_mail(job->sender, job->recipient, job->subject, job->body,
                             report_result, job);
        break;
    case HIL_API_STATIC:
        api = "smtp_send_mail_static";
        err = smtp_send_mail_static(job->sender, job->recipient, job->subject, job->body,
                                    report_result, job);
        break;
    case HIL_API_BODYCBACK:
    default:
        api = "smtp_send_mail_bodycback";
        err = smtp_send_mail_bodycback(job->sender, job->recipient, job->subject, body_chunk,
                                       report_result, job);
        break;
    }
    if (err != ERR_OK) {
        /* The callback is never called when the send function refuses the mail. */
        free_job(job);
        refuse_job(spec->job_id,
                   err == ERR_ARG ? HIL_FW_ERR_INVALID_INPUT
                   : err == ERR_MEM ? HIL_FW_ERR_OUT_OF_MEMORY
                   : HIL_FW_ERR_CONNECTION_REFUSED,
                   api, err);
    }
}

int hil_lwip_smtp_option_api(const char *value, char *error, size_t error_len)
{
    if (strcmp(value, "bodycback") == 0) {
        g_smtp_api = HIL_API_BODYCBACK;
    } else if (strcmp(value, "copy") == 0) {
        g_smtp_api = HIL_API_COPY;
    } else if (strcmp(value, "static") == 0) {
        g_smtp_api = HIL_API_STATIC;
    } else {
        snprintf(error, error_len,
                 "options.smtp_api: expected one of bodycback, copy, static, got '%s'",
                 value);
        return HIL_FW_INVALID;
    }
    return HIL_FW_OK;
}

int hil_lwip_smtp_check(const hil_fw_config *config, char *error, size_t error_len)
{
    if (config->username != NULL && strlen(config->username) > SMTP_MAX_USERNAME_LEN) {
        snprintf(error, error_len, "username: lwIP's SMTP client takes at most %d characters",
                 SMTP_MAX_USERNAME_LEN);
        return HIL_FW_INVALID;
    }
    if (config->password != NULL && strlen(config->password) > SMTP_MAX_PASS_LEN) {
        snprintf(error, error_len, "password: lwIP's SMTP client takes at most %d characters",
                 SMTP_MAX_PASS_LEN);
        return HIL_FW_INVALID;
    }
    return HIL_FW_OK;
}

void hil_lwip_smtp_start(const hil_fw_config *config)
{
    char server[16];
    snprintf(server, sizeof server, "%u.%u.%u.%u", config->server_ip[0],
             config->server_ip[1], config->server_ip[2], config->server_ip[3]);
    smtp_set_server_addr(server);
    smtp_set_server_port(config->server_port);
    /* Always called: without it smtp_send_mail copies a length of -1 (trial finding). */
    smtp_set_auth(config->username, config->password);
}

HIL_FW_API int hil_fw_submit(uint64_t now_ms, const hil_fw_job *job)
{
    if (job == NULL) {
        return HIL_FW_INVALID;
    }
    HIL_GUARDED({
        hil_lwip_set_now(now_ms);
        start_job(job);
    });
    return HIL_FW_OK;
}
