;;; emacs_helpers.el --- what the Emacs tests share -*- lexical-binding: t; -*-
;; Env: BIGCODE_REPO, BIGCODE_PYTHON, BIGCODE_MODEL.

(setq package-directory-list '("/usr/share/emacs/site-lisp/elpa"))
(package-initialize)
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
