;;; emacs_test.el --- batch test of editors/emacs against the real server -*- lexical-binding: t; -*-
;; Env: BIGCODE_REPO, BIGCODE_PYTHON, BIGCODE_MODEL, BIGCODE_FILE.

(setq package-directory-list '("/usr/share/emacs/site-lisp/elpa"))
(package-initialize)
(require 'eglot)
(add-to-list 'load-path (expand-file-name "editors/emacs" (getenv "BIGCODE_REPO")))
(require 'bigcode-ls)

(defun bigcode-test-fail (fmt &rest args)
  (princ (concat "BIGCODE-EMACS-FAIL: " (apply #'format fmt args) "\n") #'external-debugging-output)
  (kill-emacs 1))

(defun bigcode-test-wait (pred seconds)
  "Process input until PRED is true or SECONDS pass."
  (let ((deadline (+ (float-time) seconds)))
    (while (and (not (funcall pred)) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    (funcall pred)))

(setq bigcode-ls-command
      (list (getenv "BIGCODE_PYTHON") "-m" "lsp_server" "--model" (getenv "BIGCODE_MODEL") "--threads" "1"))
(setq bigcode-ls-settings '(:maxNewTokens 4 :tokenHealing :json-false))
(bigcode-ls-register)
(setq eglot-sync-connect t eglot-connect-timeout 60)

(condition-case err
    (progn
      (find-file (getenv "BIGCODE_FILE"))
      (python-mode)
      (eglot-ensure)
      (run-hooks 'post-command-hook)   ; eglot-ensure connects from post-command-hook
      (unless (bigcode-test-wait #'eglot-current-server 60)
        (bigcode-test-fail "eglot did not connect"))
      (goto-char (point-min))
      (forward-line 1)
      (search-forward "f(")
      ;; completion-at-point offers the suggestion (ask again while the model loads).
      (let (candidates)
        (bigcode-test-wait
         (lambda ()
           (setq candidates (all-completions "" (nth 2 (eglot-completion-at-point))))
           (or candidates (progn (sleep-for 0.2) nil)))
         60)
        (unless (member "xxxx" candidates)
          (bigcode-test-fail "completion candidates: %S" candidates)))
      ;; The minor mode shows the inline suggestion as an overlay, and TAB's command accepts it.
      (bigcode-ls-inline-mode 1)
      (bigcode-ls-request)
      (unless (bigcode-test-wait #'bigcode-ls-visible-p 30)
        (bigcode-test-fail "no overlay appeared"))
      (let ((shown (overlay-get bigcode-ls--overlay 'after-string)))
        (unless (equal (substring-no-properties shown) "xxxx")
          (bigcode-test-fail "overlay text %S" shown)))
      ;; The mode line: ready once the server says its model is up; loading and errors shown.
      (unless (bigcode-test-wait (lambda () (eq bigcode-ls--state 'ready)) 30)
        (bigcode-test-fail "mode line state %S" bigcode-ls--state))
      (unless (equal (bigcode-ls--lighter) " bigcode")
        (bigcode-test-fail "lighter when ready %S" (bigcode-ls--lighter)))
      (let ((bigcode-ls--state nil))
        (bigcode-ls--note-status '(:model nil :loadError nil))
        (unless (equal (bigcode-ls--lighter) " bigcode[loading]")
          (bigcode-test-fail "lighter while loading %S" (bigcode-ls--lighter)))
        (bigcode-ls--note-status '(:model nil :loadError "no such model"))
        (unless (equal (bigcode-ls--lighter) " bigcode[error]")
          (bigcode-test-fail "lighter after a failed load %S" (bigcode-ls--lighter))))
      (unless (eq (lookup-key bigcode-ls-inline-mode-map (kbd "TAB")) 'bigcode-ls-accept-or-indent)
        (bigcode-test-fail "TAB is not bound"))
      (let ((this-command 'bigcode-ls-accept-or-indent))
        (bigcode-ls-accept-or-indent))
      (let ((line (buffer-substring-no-properties (line-beginning-position) (line-end-position))))
        (unless (equal line "value = f(xxxx)")
          (bigcode-test-fail "line after accept: %S" line)))
      (when (bigcode-ls-visible-p)
        (bigcode-test-fail "overlay left behind"))
      ;; Any other command clears a shown suggestion.
      (bigcode-ls--show "zzz")
      (let ((this-command 'forward-char))
        (bigcode-ls--pre-command))
      (when (bigcode-ls-visible-p)
        (bigcode-test-fail "other commands do not clear the suggestion"))
      (ignore-errors (eglot-shutdown (eglot-current-server)))
      (princ "BIGCODE-EMACS-OK\n")
      (kill-emacs 0))
  (error (bigcode-test-fail "error: %S" err)))
