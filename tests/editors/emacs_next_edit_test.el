;;; emacs_next_edit_test.el --- next edits shown, jumped to and made, in real Emacs -*- lexical-binding: t; -*-
;; Env: BIGCODE_REPO, BIGCODE_PYTHON, BIGCODE_MODEL, BIGCODE_FILE.

(load (expand-file-name "tests/editors/emacs_helpers.el" (getenv "BIGCODE_REPO")) nil t)
(setq bigcode-ls-next-edit-delay 0.05)

(defun bigcode-test-next-edit ()
  "Ask (batch Emacs runs no idle timers) and wait for a next edit; its overlay's label."
  (bigcode-ls-next-edit-request)
  (unless (bigcode-test-wait (lambda () bigcode-ls--next-edit) 20)
    (bigcode-test-fail "no next edit shown at %S" (buffer-string)))
  (let ((ov (car bigcode-ls--next-edit)))
    (substring-no-properties (or (overlay-get ov 'after-string) (overlay-get ov 'before-string)))))

(defun bigcode-test-line (n)
  (save-excursion (goto-char (point-min)) (forward-line (1- n))
                  (buffer-substring-no-properties (line-beginning-position) (line-end-position))))

(condition-case err
    (progn
      (find-file (getenv "BIGCODE_FILE"))
      (python-mode)
      (erase-buffer)
      (insert "def total(count):\n    value = count * 2\n    return value + count\n")
      (bigcode-ls-mode 1)
      (unless (bigcode-test-wait (lambda () (eq bigcode-ls--state 'ready)) 60)
        (bigcode-test-fail "the server did not get ready"))
      ;; A rename by hand: `count' in the def line deleted and `n' typed.
      (goto-char (point-min))
      (search-forward "count")
      (delete-region (match-beginning 0) (match-end 0))
      (insert "n")
      (let ((label (bigcode-test-next-edit)))
        (unless (string-match-p "→ n" label)
          (bigcode-test-fail "label %S" label)))
      (unless (eq (lookup-key bigcode-ls-inline-mode-map (kbd "M-n")) 'bigcode-ls-next-edit-jump)
        (bigcode-test-fail "M-n is not bound"))
      (bigcode-ls-next-edit-jump)
      (unless (and (= (line-number-at-pos) 2) (looking-at "count"))
        (bigcode-test-fail "jumped to line %d: %S" (line-number-at-pos) (buffer-substring (point) (line-end-position))))
      (bigcode-ls-next-edit-accept)
      (unless (equal (bigcode-test-line 2) "    value = n * 2")
        (bigcode-test-fail "after accept: %S" (bigcode-test-line 2)))
      (bigcode-test-next-edit)       ; the next use, proposed after the accept
      (bigcode-ls-next-edit-accept)
      (unless (equal (bigcode-test-line 3) "    return value + n")
        (bigcode-test-fail "after the second accept: %S" (bigcode-test-line 3)))
      ;; A comment typed: nothing proposed.
      (goto-char (point-max))
      (insert "# a note")
      (bigcode-ls-next-edit-request)
      (bigcode-test-wait (lambda () bigcode-ls--next-edit) 1)
      (when bigcode-ls--next-edit
        (bigcode-test-fail "an edit proposed after a comment"))
      (princ "BIGCODE-EMACS-OK\n")
      (kill-emacs 0))
  (error (bigcode-test-fail "error: %S" err)))
