// The one logger: stderr, one line per event. On a terminal or in a file
// each line carries a timestamp and the level's name; under journald
// (systemd connected stderr to it: $JOURNAL_STREAM names our stderr) each
// line starts with the syslog priority instead, "<3>" for an error, which
// journald turns into the entry's PRIORITY (sd-daemon(3)), and carries no
// timestamp, as journald stamps every entry itself.
#pragma once

#include <memory>

#include <spdlog/logger.h>

namespace xdpgw::cli {

// True when $JOURNAL_STREAM's device:inode is the one stderr is open on (a
// child that inherited the variable but writes elsewhere is not logging
// to the journal).
bool stderr_is_journal();

std::shared_ptr<spdlog::logger> make_logger();

}  // namespace xdpgw::cli
