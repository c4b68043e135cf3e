/* Status names and messages, generated from the one list in mmoe/status.h. */
#include "mmoe/status.h"

const char *mmoe_status_string(mmoe_status status)
{
    switch (status) {
#define MMOE_STATUS_MSG_(name, value, msg)                                                         \
    case name:                                                                                     \
        return msg;
        MMOE_STATUS_LIST(MMOE_STATUS_MSG_)
#undef MMOE_STATUS_MSG_
    default:
        return "unknown status";
    }
}

const char *mmoe_status_name(mmoe_status status)
{
    switch (status) {
#define MMOE_STATUS_NAME_(name, value, msg)                                                        \
    case name:                                                                                     \
        return #name;
        MMOE_STATUS_LIST(MMOE_STATUS_NAME_)
#undef MMOE_STATUS_NAME_
    default:
        return "MMOE_UNKNOWN";
    }
}
