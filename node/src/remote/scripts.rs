//! The POSIX-sh scripts that read, capture and restore a worktree's git
//! state on a host, in gitsync's snapshot layout (`S^{tree}` the files,
//! `S^1` HEAD, `S^2` the index as a commit on HEAD, the message naming
//! HEAD's branch). Every step fails closed: a git failure never reads as
//! "clean" and nothing is removed that was not saved first.

use roam_actors::model::WorkspaceRecord;

use super::quote;

/// Refuses (`unsaved DIRTY UNMERGED`) or captures (`capture_script`)
/// unsaved work in the worktree on the host; any git failure fails the
/// script (never reads as "clean", which would let the worktree be
/// discarded).
pub fn save_work_script(record: &WorkspaceRecord, force: bool, snapshot_ref: &str) -> String {
    format!(
        r#"cd {wt} 2>/dev/null || exit 0
st=$(git status --porcelain --untracked-files=all) || exit 1
dirty=$(printf '%s' "$st" | grep -c '^' || true)
git rev-parse -q --verify refs/roam/base/{name} >/dev/null || {{ echo "no base ref refs/roam/base/{name}" >&2; exit 1; }}
ahead=$(git rev-list refs/roam/base/{name}..HEAD) || exit 1
unmerged=$(printf '%s' "$ahead" | grep -c '^' || true)
if [ "$dirty" -eq 0 ] && [ "$unmerged" -eq 0 ]; then exit 0; fi
if [ {force} != 1 ]; then echo "unsaved $dirty $unmerged"; exit 0; fi
{capture}"#,
        wt = quote(&record.path),
        name = record.name,
        force = u8::from(force),
        capture = capture_script(snapshot_ref),
    )
}

/// Captures the workspace's worktree on the host (`capture_script`); a
/// missing worktree fails it.
pub fn snapshot_script(record: &WorkspaceRecord, snapshot_ref: &str) -> String {
    format!(
        "cd {wt} 2>/dev/null || {{ printf 'worktree %s is missing\\n' {wt} >&2; exit 1; }}\n{capture}",
        wt = quote(&record.path),
        capture = capture_script(snapshot_ref),
    )
}

/// The one host snapshot: captures the worktree that is the current
/// directory at `snapshot_ref`, in the layout of gitsync's capture
/// (`S^{tree}` the working files, untracked included, `S^1` HEAD, `S^2` the
/// index as a commit on HEAD, the message naming HEAD's branch), so a
/// snapshot reads the same whichever site wrote it. Prints `snapshot`; or
/// `in-progress OPERATION`, writing nothing, when a merge, rebase,
/// cherry-pick, revert or bisect waits for the user (gitsync refuses those
/// too). Works on a copy of the index; the user's stays as it was. Every
/// git failure fails the script.
pub fn capture_script(snapshot_ref: &str) -> String {
    format!(
        r#"for marker in MERGE_HEAD rebase-merge rebase-apply CHERRY_PICK_HEAD REVERT_HEAD BISECT_LOG; do
  at=$(git rev-parse --git-path "$marker") || exit 1
  if [ -e "$at" ] || [ -L "$at" ]; then
    case $marker in
      MERGE_HEAD) op=merge ;;
      rebase-merge) op=rebase ;;
      rebase-apply) op='rebase or am' ;;
      CHERRY_PICK_HEAD) op=cherry-pick ;;
      REVERT_HEAD) op=revert ;;
      *) op=bisect ;;
    esac
    echo "in-progress $op"; exit 0
  fi
done
export GIT_AUTHOR_NAME=roam GIT_AUTHOR_EMAIL=roam@localhost GIT_COMMITTER_NAME=roam GIT_COMMITTER_EMAIL=roam@localhost
head=$(git rev-parse --verify HEAD) || exit 1
branch=$(git symbolic-ref -q HEAD)
case $? in 0) ;; 1) branch=detached ;; *) exit 1 ;; esac
gd=$(git rev-parse --git-dir) || exit 1
index=$(git rev-parse --git-path index) || exit 1
tmp="$gd/roam-snapshot-index.$$"
trap 'rm -f "$tmp" "$tmp.lock"' EXIT
rm -f "$tmp"
if [ -e "$index" ]; then cp "$index" "$tmp" || exit 1; fi
itree=$(GIT_INDEX_FILE="$tmp" git write-tree) || exit 1
GIT_INDEX_FILE="$tmp" git add -A || exit 1
wtree=$(GIT_INDEX_FILE="$tmp" git write-tree) || exit 1
rm -f "$tmp"
icommit=$(echo "roam index" | git commit-tree --no-gpg-sign "$itree" -p "$head") || exit 1
snap=$(printf 'roam snapshot

roam-snapshot: 1
roam-head: %s
' "$branch" | git commit-tree --no-gpg-sign "$wtree" -p "$head" -p "$icommit") || exit 1
git update-ref {snapshot} "$snap" || exit 1
echo snapshot"#,
        snapshot = quote(snapshot_ref),
    )
}

/// Makes a new worktree at `path` of the repository `record.path` is a
/// worktree of, holding exactly the snapshot at `snapshot_ref`, as gitsync's
/// `restore` does: `worktree add --no-checkout` on the recorded branch (made
/// at the snapshot's HEAD if missing) or detached, the files from `S`'s tree
/// through a throwaway index, then the real index set to `S^2`'s tree and
/// refreshed. Prints `restored`; `exists` when something is at `path`, or
/// `conflict WHY` when the branch is elsewhere (nothing made either way).
/// Every step fails closed; a failure after the worktree was added removes
/// it again.
pub fn restore_script(record: &WorkspaceRecord, snapshot_ref: &str, path: &str) -> String {
    format!(
        r#"dest={dest}
case $dest in /*) ;; *) dest="$PWD/$dest" ;; esac
if [ -e "$dest" ] || [ -L "$dest" ]; then echo exists; exit 0; fi
cd {wt} 2>/dev/null || {{ printf 'worktree %s is missing\n' {wt} >&2; exit 1; }}
common=$(cd "$(git rev-parse --git-common-dir)" && pwd) || exit 1
cd "$common" || exit 1
s=$(git rev-parse -q --verify {at}^{{commit}}) || {{ printf 'ref %s does not exist in %s\n' {at} "$common" >&2; exit 1; }}
not_snapshot() {{ printf 'commit %s is not a roam snapshot: %s\n' "$s" "$1" >&2; exit 1; }}
parents=$(git rev-list --parents -n 1 "$s") || exit 1
set -- $parents
[ $# -eq 3 ] || not_snapshot 'a snapshot has exactly two parents'
head=$2
icommit=$3
raw=$(git cat-file commit "$s") || exit 1
msg=$(printf '%s\n' "$raw" | sed '1,/^$/d')
printf '%s\n' "$msg" | grep -qx 'roam-snapshot: 1' || not_snapshot "missing 'roam-snapshot: 1' line"
printf '%s\n' "$msg" | grep -q '^roam-head: ' || not_snapshot "missing 'roam-head:' line"
on=$(printf '%s\n' "$msg" | sed -n 's/^roam-head: //p' | sed -n 1p)
wtree=$(git rev-parse --verify "$s^{{tree}}") || exit 1
itree=$(git rev-parse --verify "$icommit^{{tree}}") || exit 1
case $on in
  detached)
    git worktree add --quiet --no-checkout --detach "$dest" "$head" || exit 1 ;;
  refs/heads/?*)
    branch=${{on#refs/heads/}}
    if tip=$(git rev-parse -q --verify "$on^{{commit}}"); then
      if [ "$tip" != "$head" ]; then
        printf "conflict branch '%s' already exists in %s\n" "$branch" "$common"; exit 0
      fi
      wts=$(git worktree list --porcelain) || exit 1
      if printf '%s\n' "$wts" | grep -qxF "branch $on"; then
        printf "conflict branch '%s' is checked out in another worktree of %s\n" "$branch" "$common"; exit 0
      fi
      git worktree add --quiet --no-checkout "$dest" "$branch" || exit 1
    else
      git worktree add --quiet --no-checkout -b "$branch" "$dest" "$head" || exit 1
    fi ;;
  *) not_snapshot "'roam-head:' is neither a branch nor detached" ;;
esac
undo() {{ git worktree remove --force "$dest" >/dev/null 2>&1; git worktree prune >/dev/null 2>&1; exit 1; }}
gd=$(cd "$dest" && cd "$(git rev-parse --git-dir)" && pwd) || undo
tmp="$gd/roam-snapshot-index.$$"
trap 'rm -f "$tmp" "$tmp.lock"' EXIT
GIT_INDEX_FILE="$tmp" git -C "$dest" read-tree "$wtree" || undo
GIT_INDEX_FILE="$tmp" git -C "$dest" checkout-index --all --force || undo
rm -f "$tmp"
git -C "$dest" read-tree "$itree" || undo
git -C "$dest" update-index -q --refresh >/dev/null 2>&1
echo restored"#,
        dest = quote(path),
        wt = quote(&record.path),
        at = quote(snapshot_ref),
    )
}
