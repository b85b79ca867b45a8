;;; emacs_beside_test.el --- bigcode-ls-mode beside eglot running pylsp -*- lexical-binding: t; -*-
;; Env: BIGCODE_REPO, BIGCODE_PYTHON, BIGCODE_MODEL, BIGCODE_FILE, BIGCODE_PYLSP.

(setq package-directory-list '("/usr/share/emacs/site-lisp/elpa"))
(package-initialize)
(require 'eglot)
(add-to-list 'load-path (expand-file-name "editors/emacs" (getenv "BIGCODE_REPO")))
(require 'bigcode-ls)

(defun bigcode-test-fail (fmt &rest args)
  (princ (concat "BIGCODE-EMACS-FAIL: " (apply #'format fmt args) "\n") #'external-debugging-output)
  (kill-emacs 1))

(defun bigcode-test-wait (pred seconds)
  (let ((deadline (+ (float-time) seconds)))
    (while (and (not (funcall pred)) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    (funcall pred)))

(defun bigcode-test-server-text ()
  "The server's copy of this buffer."
  (plist-get (plist-get (jsonrpc-request bigcode-ls--connection :bigcode/status
                                         (list :uri (bigcode-ls--uri)))
                        :document)
             :text))

(defun bigcode-test-suggestion ()
  "Ask bigcode-ls at point; the ghost text shown."
  (when (timerp bigcode-ls--timer) (cancel-timer bigcode-ls--timer))
  (bigcode-ls-request)
  (unless (bigcode-test-wait #'bigcode-ls-visible-p 60)
    (bigcode-test-fail "no ghost text in %s" major-mode))
  (substring-no-properties (overlay-get bigcode-ls--overlay 'after-string)))

(setq bigcode-ls-command
      (list (getenv "BIGCODE_PYTHON") "-m" "lsp_server" "--model" (getenv "BIGCODE_MODEL") "--threads" "1"))
(setq bigcode-ls-settings '(:maxNewTokens 4 :tokenHealing :json-false))
;; The user's own language server for Python: pylsp, managed by eglot.
(setq eglot-server-programs (list (list '(python-mode) (getenv "BIGCODE_PYLSP"))))
(setq eglot-sync-connect t eglot-connect-timeout 60)
(add-hook 'prog-mode-hook #'bigcode-ls-mode)

(condition-case err
    (progn
      (find-file (getenv "BIGCODE_FILE"))
      (python-mode)
      (unless bigcode-ls-mode
        (bigcode-test-fail "prog-mode-hook did not start bigcode-ls-mode"))
      (eglot-ensure)
      (run-hooks 'post-command-hook)
      (unless (bigcode-test-wait #'eglot-current-server 60)
        (bigcode-test-fail "eglot did not connect to pylsp"))
      (let ((command (process-command (jsonrpc--process (eglot-current-server)))))
        (unless (string-match-p "pylsp" (mapconcat #'identity command " "))
          (bigcode-test-fail "eglot runs %S, not pylsp" command)))
      ;; bigcode-ls answers on its own connection ...
      (goto-char (point-min))
      (search-forward "f(")
      (let ((shown (bigcode-test-suggestion)))
        (unless (equal shown "xxxx")
          (bigcode-test-fail "ghost text %S" shown)))
      (let ((this-command 'bigcode-ls-accept-or-indent))
        (bigcode-ls-accept-or-indent))
      (unless (equal (buffer-substring-no-properties (line-beginning-position) (line-end-position))
                     "value = f(xxxx)")
        (bigcode-test-fail "line after accept: %S" (thing-at-point 'line)))
      ;; ... and its copy of the buffer follows every kind of edit.
      (goto-char (point-max))
      (insert "def g(a):\n    return a\n\nos.pa")
      (save-excursion
        (goto-char (point-min))
        (insert "# é 中 😀\n")
        (forward-line 1)
        (delete-region (point) (line-beginning-position 2)))
      (undo-boundary)
      (save-excursion (goto-char (point-min)) (while (search-forward "a" nil t) (replace-match "A")))
      (unless (equal (bigcode-test-server-text) (buffer-substring-no-properties (point-min) (point-max)))
        (bigcode-test-fail "the server's copy differs:\n%S\n%S" (bigcode-test-server-text) (buffer-string)))
      (goto-char (point-max))
      (delete-char -2)
      (insert "pa")
      ;; pylsp, through eglot, still serves the same buffer.
      (eglot--signal-textDocument/didChange)
      (let* ((result (jsonrpc-request (eglot-current-server) :textDocument/completion
                                      (eglot--TextDocumentPositionParams)))
             (items (if (vectorp result) result (plist-get result :items)))
             (labels (mapcar (lambda (item) (plist-get item :label)) items)))
        (unless (seq-find (lambda (label) (string-prefix-p "path" label)) labels)
          (bigcode-test-fail "pylsp's completions at os.pa: %S" labels)))
      ;; A JavaScript file opened: the hook starts the mode there too, and a suggestion shows.
      (find-file (concat (file-name-sans-extension (getenv "BIGCODE_FILE")) ".js"))
      (js-mode)
      (insert "const value = f(")
      (unless bigcode-ls-mode
        (bigcode-test-fail "no bigcode-ls-mode in a JavaScript buffer"))
      (let ((shown (bigcode-test-suggestion)))
        (unless (equal shown "xxxx")
          (bigcode-test-fail "JavaScript ghost text %S" shown)))
      (bigcode-ls-clear)
      ;; A model that completes Python only: no requests in the JavaScript buffer.
      (let ((bigcode-ls--languages '("python")))
        (when (bigcode-ls--serves-here-p)
          (bigcode-test-fail "a Python-only model would be asked about JavaScript")))
      (princ "BIGCODE-EMACS-OK\n")
      (kill-emacs 0))
  (error (bigcode-test-fail "error: %S" err)))
