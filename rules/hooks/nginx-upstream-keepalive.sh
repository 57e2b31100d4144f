#!/bin/sh
# perfsage hook: keep nginx's connections to an upstream open. In one nginx
# configuration file, sets `keepalive N;` in the `upstream NAME { ... }` block
# and, in every `location` of that file that proxies to http://NAME,
# `proxy_http_version 1.1;` and `proxy_set_header Connection "";` (without
# both, nginx closes each upstream connection after one request whatever
# `keepalive` says). The edited configuration is checked with `nginx -t`; a
# failing check puts the old file back. nginx is reloaded only if the rule
# pack allows it.
#
# Parameters (from the plugin, as data): PERFSAGE_PARAM_ROUTE, the route the
# finding is about (reported only: which upstream serves it is the operator's
# knowledge, not perfsage's). From the rule pack:
#   PERFSAGE_NGINX_FILE      the one file this hook may edit (none by default)
#   PERFSAGE_NGINX_UPSTREAM  the upstream block's name
#   PERFSAGE_NGINX_KEEPALIVE idle connections kept per worker (default 32)
#   PERFSAGE_NGINX_CONF      the main configuration `nginx -t` checks (default: the file)
#   PERFSAGE_NGINX_PREFIX    nginx's -p prefix, if not the built-in one
#   PERFSAGE_NGINX_RELOAD    1: `nginx -s reload` after a good check (default 0)
#   PERFSAGE_NGINX           the nginx program (default nginx)
# From perfsage: PERFSAGE_PHASE, PERFSAGE_DRY_RUN (1: print the diff),
# PERFSAGE_STATE_DIR.
#
# The file is read one directive per line, as nginx configurations are
# usually written. It refuses, changing nothing, when the edit would not be
# exact: no such upstream (or two), no location in the file proxying to it,
# such a location written on one line, or a location with no
# `proxy_set_header` of its own that inherits some from an enclosing block
# (adding one there would silently drop the inherited ones).
set -eu
# No globbing, ever, and byte-wise character classes: every parameter below is
# checked whole before it is used, and always expanded quoted.
set -f
LC_ALL=C
export LC_ALL

fail() { printf 'nginx-upstream-keepalive: %s\n' "$*" >&2; exit 2; }

route=${PERFSAGE_PARAM_ROUTE-}
file=${PERFSAGE_NGINX_FILE:-}
upstream=${PERFSAGE_NGINX_UPSTREAM:-}
keepalive=${PERFSAGE_NGINX_KEEPALIVE:-32}
conf=${PERFSAGE_NGINX_CONF:-$file}
prefix=${PERFSAGE_NGINX_PREFIX:-}
reload=${PERFSAGE_NGINX_RELOAD:-0}
nginx=${PERFSAGE_NGINX:-nginx}
dry_run=${PERFSAGE_DRY_RUN:-0}
state=${PERFSAGE_STATE_DIR:?PERFSAGE_STATE_DIR is not set}

# The route is only reported, but checked like everything else: `[METHOD ]/path`.
case $route in
*[!A-Za-z0-9/._~:@%+{}\ -]*) fail "refusing route: [METHOD ]/path of letters, digits and / . _ ~ : @ % + { } - only" ;;
/* | [A-Z]*' '/*) ;;
*) fail "refusing route: expected [METHOD ]/path" ;;
esac
case ${route#* } in *' '*) fail "refusing route: one space at most, after the method" ;; esac
case $route in [A-Z]*' '*) case ${route%% *} in *[!A-Z]*) fail "refusing route: the method is upper-case letters" ;; esac ;; esac
[ "${#route}" -le 1024 ] || fail "refusing route: longer than 1024 bytes"
[ -n "$file" ] || fail "no nginx file configured: set PERFSAGE_NGINX_FILE and PERFSAGE_NGINX_UPSTREAM in the rule pack"
case $upstream in '' | *[!A-Za-z0-9_.-]*) fail "refusing upstream name '$upstream': letters, digits, . _ - only" ;; esac
case $keepalive in '' | *[!0-9]* | 0*) fail "PERFSAGE_NGINX_KEEPALIVE '$keepalive' is not a positive whole number" ;; esac
[ "${#keepalive}" -le 5 ] || fail "PERFSAGE_NGINX_KEEPALIVE '$keepalive' is too large"
case $reload in 0 | 1) ;; *) fail "PERFSAGE_NGINX_RELOAD must be 0 or 1" ;; esac
[ -f "$file" ] || fail "no such file: $file"
[ -f "$conf" ] || fail "no such nginx configuration: $conf"
real=$(realpath -e -- "$file")
conf=$(realpath -e -- "$conf")
# Backups per apply run and step (PERFSAGE_RUN; see set-config-key.sh): a
# rollback of run R restores R's backup only while the file is still exactly
# what R wrote, so a later edit is never lost to an older rollback.
run=${PERFSAGE_RUN:-}
if [ "$dry_run" != 1 ]; then
    case $run in '' | .* | *[!A-Za-z0-9:._-]*) fail "refusing run id '$run' (PERFSAGE_RUN, set by perfsage apply)" ;; esac
fi
id=$(printf '%s\n%s\n%s' "${PERFSAGE_ACTION:-}" "${PERFSAGE_TARGET:-}" "$real" | sha256sum | cut -c1-32)
rundir=$state/runs/$run
backup=$rundir/$id.nginx.bak
after=$rundir/$id.nginx.after
digest() { sha256sum <"$1" | cut -c1-64; }
# Copy $1 over $2 atomically: a temporary file beside $2, fsynced, renamed, directory fsynced.
replace_with() {
    new_copy=$(mktemp "$2.perfsage.XXXXXX")
    cp -p -- "$1" "$new_copy" && sync -- "$new_copy" && mv -f -- "$new_copy" "$2" && sync -- "$(dirname -- "$2")" || {
        rm -f -- "$new_copy"
        return 1
    }
}

# nginx with this pack's prefix and main configuration, errors on stderr.
run_nginx() {
    if [ -n "$prefix" ]; then
        "$nginx" -p "$prefix" -e stderr -c "$conf" "$@"
    else
        "$nginx" -e stderr -c "$conf" "$@"
    fi
}

# The file with the change made, on stdout; exits 2 with the reason when it cannot be made exactly.
rewrite() {
    UPSTREAM=$upstream KEEPALIVE=$keepalive awk '
        # The line without comments and with quoted strings and ${var} emptied, so braces count.
        function code(s,   out, i, ch, q) {
            out = ""; q = ""
            for (i = 1; i <= length(s); i++) {
                ch = substr(s, i, 1)
                if (q != "") {
                    if (ch == "\\") i++
                    else if (ch == q) { q = ""; out = out "\"\"" }
                    continue
                }
                if (ch == "\"" || ch == "\047") { q = ch; continue }
                if (ch == "$" && substr(s, i + 1, 1) == "{") {
                    while (i <= length(s) && substr(s, i, 1) != "}") i++
                    out = out "$v"
                    continue
                }
                if (ch == "#") break
                out = out ch
            }
            return out
        }
        function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
        function count(s, ch,   n, i) { n = 0; for (i = 1; i <= length(s); i++) if (substr(s, i, 1) == ch) n++; return n }
        function refuse(why) { print "nginx-upstream-keepalive: " why > "/dev/stderr"; failed = 1; exit 2 }
        BEGIN {
            name = ENVIRON["UPSTREAM"]; keepalive = ENVIRON["KEEPALIVE"]
            pattern = name; gsub(/\./, "[.]", pattern)
            target = "^proxy_pass[ \t]+https?://" pattern "([/;]|$)"
            anywhere = "(^|[{; \t])proxy_pass[ \t]+https?://" pattern "([/;]|$)"
            depth = 0; blocks = 0; up = 0
        }
        # First pass: the blocks, what each one holds, and where.
        FNR == NR {
            c = trim(code($0)); opens = count(c, "{"); closes = count(c, "}")
            if (opens + closes > 1) {
                if (opens == closes && c ~ anywhere) refuse("line " FNR ": a location proxying to " name " on one line; put its directives on their own lines")
                if (opens == closes) next
                refuse("line " FNR ": more than one brace; write one block per line")
            }
            directive = c
            sub(/[{}].*$/, "", directive)
            directive = trim(directive)
            if (opens == 1) {
                blocks++
                parent[blocks] = stack[depth]; stack[++depth] = blocks
                header[blocks] = directive
                if (directive ~ ("^upstream[ \t]+" pattern "$")) {
                    if (up) refuse("two upstream " name " blocks")
                    up = blocks
                }
                next
            }
            top = stack[depth]
            if (directive != "") {
                if (directive ~ /^proxy_set_header[ \t]/) {
                    has_header[top] = 1
                    if (tolower(directive) ~ /^proxy_set_header[ \t]+connection[ \t]/) connection_line[top] = FNR
                }
                if (directive ~ /^proxy_http_version[ \t]/) version_line[top] = FNR
                if (directive ~ /^keepalive[ \t]/) keepalive_line[top] = FNR
                if (directive ~ target) {
                    if (header[top] !~ /^location[ \t]/) refuse("line " FNR ": proxy_pass to " name " outside a location block (" header[top] ")")
                    proxies[top] = FNR
                }
            }
            if (closes == 1) {
                if (depth == 0) refuse("line " FNR ": a closing brace without its block")
                close_line[top] = FNR
                depth--
            }
            next
        }
        # Between the passes: is the edit exact?
        FNR == 1 {
            checked = 1
            if (depth != 0) refuse("unbalanced braces")
            if (!up) refuse("no upstream " name " block")
            locations = 0
            for (b = 1; b <= blocks; b++) {
                if (!(b in proxies)) continue
                locations++
                if (has_header[b]) continue
                for (a = parent[b]; a; a = parent[a])
                    if (has_header[a]) refuse("the location at line " proxies[b] " has no proxy_set_header of its own and inherits those of \"" header[a] "\"; adding one would drop them: add proxy_set_header Connection \"\" there by hand")
            }
            if (!locations) refuse("no location proxies to http://" name " in this file: keepalive alone changes nothing")
            for (b = 1; b <= blocks; b++) {
                if (!(b in proxies)) continue
                after[proxies[b]] = b
                if (b in version_line) version_owner[version_line[b]] = b
                if (b in connection_line) connection_owner[connection_line[b]] = b
            }
        }
        # Second pass: the file, changed.
        {
            indent = $0; sub(/[^ \t].*$/, "", indent)
            if ((up in keepalive_line) && FNR == keepalive_line[up]) { print indent "keepalive " keepalive ";"; next }
            if (FNR == close_line[up] && !(up in keepalive_line)) print indent "    keepalive " keepalive ";"
            if (FNR in version_owner) { print indent "proxy_http_version 1.1;"; next }
            if (FNR in connection_owner) { print indent "proxy_set_header Connection \"\";"; next }
            print
            if (FNR in after) {
                b = after[FNR]
                if (!(b in version_line)) print indent "proxy_http_version 1.1;"
                if (!(b in connection_line)) print indent "proxy_set_header Connection \"\";"
            }
        }
        END {
            if (failed) exit 2
            if (!checked) refuse("no upstream " name " block")
        }
    ' "$real" "$real"
}

# Is nothing left to change? (Also what verification checks.)
in_place() {
    rewrite >"$1" || exit 2
    cmp -s -- "$1" "$real"
}

# `nginx -t` on the configuration as it is now, then a reload if the pack allows it.
check_and_reload() {
    run_nginx -t || return 1
    if [ "$reload" = 1 ]; then
        run_nginx -s reload || return 1
        printf 'reloaded nginx\n'
    fi
}

case ${PERFSAGE_PHASE:-apply} in
apply)
    tmp=$(mktemp)
    new=
    trap 'rm -f "$tmp" ${new:+"$new"}' EXIT
    if in_place "$tmp"; then
        printf 'upstream %s already keeps %s connections open in %s (route %s): nothing to change\n' \
            "$upstream" "$keepalive" "$real" "$route"
        exit 0
    fi
    if [ "$dry_run" = 1 ]; then
        printf 'would keep %s connections open to upstream %s in %s for %s (backup to %s), then check with nginx -t' \
            "$keepalive" "$upstream" "$real" "$route" "$backup"
        if [ "$reload" = 1 ]; then printf ' and reload nginx:\n'; else printf ' (no reload: PERFSAGE_NGINX_RELOAD=0):\n'; fi
        diff -u --label "$real" --label "$real (new)" "$real" "$tmp" || true
        exit 0
    fi
    # The oldest state is what a rollback restores; a rejected change goes back to the file as it was now.
    made_backup=0
    mkdir -p -- "$rundir"
    [ -f "$backup" ] || { replace_with "$real" "$backup" || fail "cannot back up $real"; made_backup=1; }
    cp -p -- "$real" "$tmp"
    new=$(mktemp "$real.perfsage.XXXXXX")
    rewrite >"$new" || exit 2
    chmod --reference="$real" "$new"
    chown --reference="$real" "$new" 2>/dev/null || true
    sync -- "$new"
    mv -f -- "$new" "$real"
    new=
    sync -- "$(dirname -- "$real")"
    if ! check_and_reload; then
        replace_with "$tmp" "$real"
        [ "$made_backup" = 0 ] || rm -f -- "$backup"
        fail "nginx rejected the change; $real is restored as it was"
    fi
    digest "$real" >"$after"
    printf 'upstream %s keeps %s connections open (%s, backup in %s)\n' "$upstream" "$keepalive" "$real" "$backup"
    ;;
verify)
    tmp=$(mktemp)
    trap 'rm -f "$tmp"' EXIT
    in_place "$tmp" || fail "$real does not have keepalive $keepalive for upstream $upstream with HTTP/1.1 and an empty Connection header in its locations"
    run_nginx -t || fail "nginx -t fails on $conf"
    printf 'upstream %s keeps %s connections open in %s; nginx -t passes\n' "$upstream" "$keepalive" "$real"
    ;;
rollback)
    [ -f "$backup" ] || fail "no backup of $real from run $run in $backup: nothing to roll back"
    if [ -f "$after" ] && [ "$(digest "$real")" != "$(cat -- "$after")" ]; then
        fail "$real changed after run $run edited it (a later edit or apply): not rolling back over it; its state before run $run is in $backup"
    fi
    if [ "$dry_run" = 1 ]; then
        printf 'would restore %s from %s:\n' "$real" "$backup"
        diff -u "$real" "$backup" || true
        exit 0
    fi
    replace_with "$backup" "$real" || fail "cannot restore $real from $backup"
    rm -f -- "$backup" "$after"
    check_and_reload || fail "restored $real, but nginx -t or the reload failed"
    printf 'restored %s from its backup\n' "$real"
    ;;
*) fail "unknown phase ${PERFSAGE_PHASE}" ;;
esac
