;;; kernelbridge.el --- Jupyter kernels through the kernelbridge daemon  -*- lexical-binding: t; -*-

;; Version: 0.1.0
;; Package-Requires: ((emacs "28.1") (jsonrpc "1.0.14"))
;; Keywords: languages, processes, tools
;; SPDX-License-Identifier: MIT

;;; Commentary:

;; A thin client of `kernelbridge --stdio', a daemon that owns Jupyter
;; kernels and speaks JSON-RPC with LSP framing (see protocol.md in the
;; kernelbridge repository).  Everything about kernels, cells, output
;; coalescing and image files is done by the daemon; this package only
;; draws what the daemon sends and forwards what the user asks for.
;;
;; It keeps its own `jsonrpc-process-connection' (like copilot.el) rather
;; than taking eglot's slot, so it runs beside pylsp or pyright.
;;
;; Entry points:
;;   `kernelbridge-mode'     minor mode for source buffers (keys below)
;;   `kernelbridge-start'    start a kernel (completing-read over kernelspecs)
;;   `kernelbridge-connect'  connect to a kernel's connection file
;;   `kernelbridge-repl'     pop to the REPL buffer of the buffer's kernel
;;
;; Keys of `kernelbridge-mode' (prefix C-c):
;;   C-c C-c  eval region or line     C-c C-e  eval cell (# %%)
;;   C-c C-l  eval line               C-c C-a  run cells above
;;   C-c C-r  eval region             C-c C-b  eval buffer
;;   C-M-x    eval defun              C-c M-a  run all cells
;;   C-c C-d  inspect (help buffer)   C-c C-z  REPL buffer
;;   C-c C-s  start kernel            C-c C-i  interrupt
;;   C-c C-x C-r restart  C-c C-x C-c connect  C-c C-x C-k shut down kernel

;;; Code:

(require 'cl-lib)
(require 'jsonrpc)
(require 'ansi-color)
(require 'ring)
(require 'subr-x)
(require 'seq)
(require 'url-util)
(require 'help-mode)
(require 'eldoc)

(defgroup kernelbridge nil
  "Jupyter kernels through the kernelbridge daemon."
  :group 'tools
  :prefix "kernelbridge-")

(defcustom kernelbridge-command
  (let ((env (getenv "KERNELBRIDGE_COMMAND")))
    (if (and env (not (string-empty-p env)))
        (split-string-and-unquote env)
      (list "kernelbridge" "--stdio")))
  "Command line that starts the daemon, a list of strings.
Defaults to the environment variable KERNELBRIDGE_COMMAND (split
like a shell word list) or \"kernelbridge --stdio\"."
  :type '(repeat string))

(defcustom kernelbridge-initialization-options
  '(:output (:mimeTypes ["image/png" "image/svg+xml" "image/jpeg" "image/gif"
                         "text/plain"]))
  "The daemon's initializationOptions, a plist (see protocol.md §2.2)."
  :type 'sexp)

(defcustom kernelbridge-language-alist
  '((python-mode . "python") (python-ts-mode . "python")
    (julia-mode . "julia") (ess-r-mode . "r") (R-mode . "r")
    (js-mode . "javascript") (typescript-mode . "typescript")
    (lua-mode . "lua") (scala-mode . "scala") (haskell-mode . "haskell"))
  "Major mode to LSP languageId.
Modes not listed use their name without \"-mode\"/\"-ts-mode\"."
  :type '(alist :key-type symbol :value-type string))

(defcustom kernelbridge-result-max-echo-width 120
  "Results of eval commands longer than this (or with several lines) pop up."
  :type 'integer)

(defcustom kernelbridge-read-input-function #'kernelbridge-read-input
  "Function reading the answer to a kernel's input request.
Called with PROMPT and PASSWORD (non-nil for getpass()); returns a string."
  :type 'function)

(defcustom kernelbridge-completion-timeout 10
  "Seconds completion, isComplete and inspect wait for the daemon.
The daemon's own requestTimeout is 10 s; IPython's first completion,
which imports jedi, can take several seconds.  \\[keyboard-quit] stops a wait."
  :type 'number)

(defcustom kernelbridge-image-max-width 600
  "Maximum width in pixels of images inserted into the REPL."
  :type 'integer)

(defface kernelbridge-prompt '((t :inherit comint-highlight-prompt))
  "Face of REPL prompts.")
(defface kernelbridge-stderr '((t :inherit font-lock-warning-face))
  "Face of stderr text in the REPL.")
(defface kernelbridge-notice '((t :inherit font-lock-comment-face :slant italic))
  "Face of notices (kernel died, restarted, truncated) in the REPL.")
(defface kernelbridge-cell-queued '((t :inherit secondary-selection))
  "Face of a source cell waiting to run.")
(defface kernelbridge-cell-running '((t :inherit highlight))
  "Face of a source cell the kernel runs.")
(defface kernelbridge-diagnostic '((t :inherit error :underline t))
  "Face of lines that raised in a cell run.")
(defface kernelbridge-unresponsive '((t :inherit warning))
  "Face of the state of a kernel that stopped answering, in the mode line.")

;;;; State

(defvar kernelbridge--connection nil "The daemon connection, or nil.")
(defvar kernelbridge--kernels (make-hash-table :test #'equal)
  "kernelId -> Kernel plist (protocol.md §3.1), kept current by notifications.")
(defvar kernelbridge--executions (make-hash-table :test #'equal)
  "executionId -> execution record (a plist).")
(defvar kernelbridge--inputs (make-hash-table :test #'equal)
  "Daemon input request id -> `kernelbridge--deferred'.")
(defvar kernelbridge--execution-counter 0)
(defvar kernelbridge--reading-input nil
  "The deferred reply whose input is being read in the minibuffer.")
(defvar kernelbridge--repl-insert-at nil
  "When non-nil, the marker where REPL output is inserted (display updates).")

(defvar-local kernelbridge--kernel-id nil
  "The kernel this buffer last ran code on (the daemon keeps the binding).")
(defvar-local kernelbridge--doc-version 0)
(defvar-local kernelbridge--doc-dirty nil)
(defvar-local kernelbridge--repl-kernel nil "The REPL buffer's kernel id.")
(defvar-local kernelbridge--repl-prompt-start nil)
(defvar-local kernelbridge--repl-input-start nil)
(defvar-local kernelbridge--repl-count 1 "Number shown in the next prompt.")
(defvar-local kernelbridge--repl-open nil
  "The stream line left open: (KEY LINE-START-MARKER LINE COL) or nil.")
(defvar-local kernelbridge--repl-exec-starts nil "executionId -> marker alist.")
(defvar-local kernelbridge--repl-displays nil "displayId -> list of (BEG . END).")
(defvar-local kernelbridge--repl-history nil)
(defvar-local kernelbridge--repl-history-index nil)

;;;; Connection

(defclass kernelbridge-connection (jsonrpc-process-connection)
  ((opened :initform (make-hash-table :test #'equal)
           :accessor kernelbridge--opened
           :documentation "URI -> buffer of documents opened with didOpen.")
   (shutting-down :initform nil :accessor kernelbridge--shutting-down))
  :documentation "The connection to one `kernelbridge --stdio' daemon.")

(cl-defstruct (kernelbridge--deferred (:constructor kernelbridge--make-deferred))
  "A reply to a daemon request that is sent later (by `kernelbridge--reply')."
  id cancelled)

(cl-defmethod jsonrpc-connection-send :around
  ((_conn kernelbridge-connection) &rest args &key id result &allow-other-keys)
  "Send ARGS, but hold back replies whose RESULT is deferred; remember their ID."
  (if (and id (kernelbridge--deferred-p result))
      (progn (setf (kernelbridge--deferred-id result) id)
             (puthash id result kernelbridge--inputs))
    (cl-call-next-method)))


(cl-defgeneric kernelbridge-handle-notification (conn method &rest params)
  "Handle the daemon's notification METHOD with PARAMS on CONN."
  (:method (_conn _method &rest _params) nil))

(cl-defgeneric kernelbridge-handle-request (conn method &rest params)
  "Answer the daemon's request METHOD with PARAMS on CONN."
  (:method (_conn method &rest _params)
           (jsonrpc-error :code -32601 :message (format "%s not handled" method))))

(defun kernelbridge--dispatch-notification (conn method params)
  "Call `kernelbridge-handle-notification', never letting an error escape.
An error escaping a jsonrpc dispatcher stalls the messages behind it."
  (condition-case-unless-debug err
      (apply #'kernelbridge-handle-notification conn method params)
    (error (message "kernelbridge: error handling %s: %s"
                    method (error-message-string err)))))

(defun kernelbridge--dispatch-request (conn method params)
  "Call `kernelbridge-handle-request' for METHOD with PARAMS on CONN."
  (apply #'kernelbridge-handle-request conn method params))

(defun kernelbridge--start-daemon ()
  "Start the daemon, initialize it and return the connection."
  (let* ((name "kernelbridge")
         (default-directory (if (file-directory-p default-directory)
                                default-directory "~/"))
         (conn
          (make-instance
           'kernelbridge-connection
           :name name
           :events-buffer-scrollback-size 200000
           :notification-dispatcher #'kernelbridge--dispatch-notification
           :request-dispatcher #'kernelbridge--dispatch-request
           :on-shutdown #'kernelbridge--on-daemon-exit
           :process
           (lambda ()
             (make-process
              :name name :command kernelbridge-command
              :connection-type 'pipe :coding 'utf-8-emacs-unix :noquery t
              :stderr (get-buffer-create (format "*%s stderr*" name)))))))
    (setq kernelbridge--connection conn)
    (condition-case err
        (jsonrpc-request
         conn :initialize
         (list :processId (emacs-pid)
               :clientInfo '(:name "kernelbridge.el" :version "0.1.0")
               :capabilities '(:general (:positionEncodings ["utf-32"]))
               :initializationOptions kernelbridge-initialization-options)
         :timeout 30)
      (error
       (setq kernelbridge--connection nil)
       (ignore-errors (jsonrpc-shutdown conn))
       (error "kernelbridge: the daemon (%s) did not initialize: %s"
              (string-join kernelbridge-command " ")
              (error-message-string err))))
    (jsonrpc-notify conn :initialized (make-hash-table))
    conn))

(defun kernelbridge--conn ()
  "Return the live daemon connection, starting the daemon if needed."
  (if (and kernelbridge--connection (jsonrpc-running-p kernelbridge--connection))
      kernelbridge--connection
    (kernelbridge--start-daemon)))

(defun kernelbridge--on-daemon-exit (conn)
  "Tell the user that the daemon behind CONN exited; forget its kernels."
  (when (eq conn kernelbridge--connection)
    (setq kernelbridge--connection nil))
  (let ((code (process-exit-status (jsonrpc--process conn))))
    (maphash (lambda (kid kernel)
               (unless (equal (plist-get kernel :state) "dead")
                 (kernelbridge--repl-notice
                  kid "daemon exited: this kernel is gone; start a new one")))
             kernelbridge--kernels)
    (clrhash kernelbridge--kernels)
    (clrhash kernelbridge--executions)
    (clrhash kernelbridge--inputs)
    (unless (kernelbridge--shutting-down conn)
      (message "kernelbridge: the daemon exited unexpectedly (exit code %s); \
see buffer \" *kernelbridge stderr*\"" code)))
  (force-mode-line-update t))

(defun kernelbridge-shutdown-daemon ()
  "Shut the daemon down (and with it the kernels it started)."
  (interactive)
  (when-let ((conn kernelbridge--connection))
    (setf (kernelbridge--shutting-down conn) t)
    (when (jsonrpc-running-p conn)
      (ignore-errors (jsonrpc-request conn :shutdown nil :timeout 15))
      (ignore-errors (jsonrpc-notify conn :exit nil))
      (with-timeout (5 nil)
        (while (jsonrpc-running-p conn) (accept-process-output nil 0.05))))
    (ignore-errors (jsonrpc-shutdown conn))
    (setq kernelbridge--connection nil)))

(defun kernelbridge--request (method params &optional timeout)
  "Send METHOD with PARAMS and wait for the result (TIMEOUT seconds)."
  (jsonrpc-request (kernelbridge--conn) method params
                   :timeout (or timeout kernelbridge-completion-timeout)))

(defun kernelbridge--async (method params on-result &optional on-error)
  "Send METHOD with PARAMS; call ON-RESULT or ON-ERROR (default: message).
No client-side deadline: the daemon bounds what needs bounding."
  (jsonrpc-async-request
   (kernelbridge--conn) method params
   :timeout nil
   :success-fn on-result
   :error-fn (or on-error
                 (lambda (err)
                   (message "kernelbridge: %s failed: %s" method
                            (plist-get err :message))))))

(defun kernelbridge--error-message (err)
  "Text of a jsonrpc-error condition ERR."
  (or (alist-get 'jsonrpc-error-message (cdr err)) (error-message-string err)))

;;;; Kernels

(defun kernelbridge--kernel (kid) (gethash kid kernelbridge--kernels))

(defun kernelbridge--kernel-name (kid)
  "Short human name of kernel KID."
  (let ((k (kernelbridge--kernel kid)))
    (format "%s %s"
            (let ((s (plist-get k :kernelspec)))
              (if (or (null s) (string-empty-p s))
                  (or (plist-get k :language) "kernel") s))
            (substring kid 0 (min 8 (length kid))))))

(defun kernelbridge--store-kernel (kernel)
  "Remember the Kernel plist KERNEL; return its id."
  (let ((kid (plist-get kernel :kernelId)))
    (puthash kid kernel kernelbridge--kernels)
    kid))

(defun kernelbridge--refresh-kernels (&optional then)
  "Ask the daemon for its kernels; then call THEN."
  (kernelbridge--async
   :kernelbridge/kernels nil
   (lambda (kernels)
     (seq-doseq (k kernels) (kernelbridge--store-kernel k))
     (force-mode-line-update t)
     (when then (funcall then)))
   #'ignore))

(defun kernelbridge--set-state (kid state)
  "Record STATE of kernel KID."
  (let ((k (or (kernelbridge--kernel kid) (list :kernelId kid))))
    (puthash kid (plist-put k :state state) kernelbridge--kernels)))

(defun kernelbridge--state (kid)
  (plist-get (kernelbridge--kernel kid) :state))

;;;; Documents

(defun kernelbridge--uri (&optional buffer)
  "URI of BUFFER: its file, else an untitled: URI."
  (with-current-buffer (or buffer (current-buffer))
    (if buffer-file-name
        (concat "file://"
                (url-hexify-string (expand-file-name buffer-file-name)
                                   url-path-allowed-chars))
      (concat "untitled:" (url-hexify-string (buffer-name))))))

(defun kernelbridge--language ()
  "LSP languageId of the current buffer."
  (or (cdr (assq major-mode kernelbridge-language-alist))
      (let ((name (symbol-name major-mode)))
        (replace-regexp-in-string "\\(-ts\\)?-mode\\'" "" name))))

(defun kernelbridge--buffer-text ()
  (save-restriction (widen) (buffer-substring-no-properties (point-min) (point-max))))

(defun kernelbridge--sync-document ()
  "Make the daemon's copy of the current buffer current (didOpen/didChange).
Sends the whole text: simple and always right."
  (let* ((conn (kernelbridge--conn))
         (uri (kernelbridge--uri))
         (opened (kernelbridge--opened conn)))
    (cond
     ((not (eq (gethash uri opened) (current-buffer)))
      (setq kernelbridge--doc-version 1 kernelbridge--doc-dirty nil)
      (puthash uri (current-buffer) opened)
      (jsonrpc-notify conn :textDocument/didOpen
                      (list :textDocument
                            (list :uri uri :languageId (kernelbridge--language)
                                  :version 1 :text (kernelbridge--buffer-text)))))
     (kernelbridge--doc-dirty
      (setq kernelbridge--doc-dirty nil)
      (jsonrpc-notify conn :textDocument/didChange
                      (list :textDocument
                            (list :uri uri
                                  :version (cl-incf kernelbridge--doc-version))
                            :contentChanges
                            (vector (list :text (kernelbridge--buffer-text)))))))
    uri))

(defun kernelbridge--after-change (&rest _)
  (setq kernelbridge--doc-dirty t))

(defun kernelbridge--close-document ()
  "Send didClose for the current buffer if the daemon has it open."
  (when-let* ((conn kernelbridge--connection)
              ((jsonrpc-running-p conn))
              (uri (kernelbridge--uri))
              ((eq (gethash uri (kernelbridge--opened conn)) (current-buffer))))
    (remhash uri (kernelbridge--opened conn))
    (jsonrpc-notify conn :textDocument/didClose (list :textDocument (list :uri uri)))))

(defun kernelbridge--buffer-for-uri (uri)
  (when-let ((conn kernelbridge--connection))
    (let ((buf (gethash uri (kernelbridge--opened conn))))
      (and (buffer-live-p buf) buf))))

(defun kernelbridge--target ()
  "Params naming the kernel of the current buffer: kernelId or uri."
  (cond
   ((derived-mode-p 'kernelbridge-repl-mode)
    (list :kernelId kernelbridge--repl-kernel))
   ((and kernelbridge--kernel-id (kernelbridge--kernel kernelbridge--kernel-id))
    (list :kernelId kernelbridge--kernel-id :uri (kernelbridge--sync-document)))
   (t (list :uri (kernelbridge--sync-document)))))

(defun kernelbridge--current-kernel (&optional noerror)
  "The kernel id for commands in this buffer; ask when it is ambiguous."
  (let ((ids (hash-table-keys kernelbridge--kernels)))
    (cond
     ((derived-mode-p 'kernelbridge-repl-mode) kernelbridge--repl-kernel)
     ((and kernelbridge--kernel-id (kernelbridge--kernel kernelbridge--kernel-id))
      kernelbridge--kernel-id)
     ((let* ((uri (kernelbridge--uri))
             (bound (seq-find (lambda (kid)
                                (seq-contains-p (plist-get (kernelbridge--kernel kid)
                                                           :documents)
                                                uri))
                              ids)))
        (and bound (setq kernelbridge--kernel-id bound))))
     ((= (length ids) 1) (car ids))
     (noerror nil)
     (ids (let ((choices (mapcar (lambda (kid) (cons (kernelbridge--kernel-name kid) kid))
                                 ids)))
            (cdr (assoc (completing-read "Kernel: " choices nil t) choices))))
     (t (user-error "No kernel: start one with M-x kernelbridge-start")))))

;;;; Starting, connecting, interrupting

(defun kernelbridge--kernel-ready (kernel source)
  "Record the started or connected KERNEL, bind SOURCE buffer, make its REPL."
  (let ((kid (kernelbridge--store-kernel kernel)))
    (when (buffer-live-p source)
      (with-current-buffer source
        (unless (derived-mode-p 'kernelbridge-repl-mode)
          (setq kernelbridge--kernel-id kid))))
    (kernelbridge--repl-buffer kid)
    (message "kernelbridge: %s ready" (kernelbridge--kernel-name kid))
    (force-mode-line-update t)
    kid))

;;;###autoload
(defun kernelbridge-start (kernelspec &optional callback)
  "Start a kernel of KERNELSPEC (asked with completion) for this buffer.
The kernel's directory is `default-directory'.  CALLBACK, if given, is
called with the new kernel id."
  (interactive
   (let* ((specs (append (kernelbridge--request :kernelbridge/kernelspecs nil 30) nil))
          (choices (mapcar (lambda (s)
                             (cons (format "%s (%s)" (plist-get s :displayName)
                                           (plist-get s :name))
                                   (plist-get s :name)))
                           specs)))
     (unless specs (user-error "kernelbridge: no kernelspec is installed"))
     (list (cdr (assoc (completing-read "Start kernel: " choices nil t nil nil
                                        (caar choices))
                       choices)))))
  (let ((source (current-buffer))
        (params (list :kernelspec kernelspec
                      :cwd (expand-file-name default-directory))))
    (when (and (bound-and-true-p kernelbridge-mode)
               (not (derived-mode-p 'kernelbridge-repl-mode)))
      (setq params (plist-put params :uri (kernelbridge--sync-document))))
    (message "kernelbridge: starting %s..." kernelspec)
    (kernelbridge--async
     :kernelbridge/start params
     (lambda (kernel)
       (let ((kid (kernelbridge--kernel-ready kernel source)))
         (when callback (funcall callback kid)))))))

;;;###autoload
(defun kernelbridge-connect (file)
  "Connect to the kernel of connection FILE (a kernel started elsewhere)."
  (interactive
   (list (read-file-name "Connection file: "
                         (expand-file-name "~/.local/share/jupyter/runtime/")
                         nil t)))
  (let ((source (current-buffer))
        (params (list :connectionFile (expand-file-name file))))
    (when (bound-and-true-p kernelbridge-mode)
      (setq params (plist-put params :uri (kernelbridge--sync-document))))
    (kernelbridge--async :kernelbridge/connect params
                         (lambda (kernel) (kernelbridge--kernel-ready kernel source)))))

(defun kernelbridge-interrupt ()
  "Interrupt the kernel's running execution."
  (interactive)
  (let ((kid (kernelbridge--current-kernel)))
    (kernelbridge--async :kernelbridge/interrupt (list :kernelId kid)
                         (lambda (_) (message "kernelbridge: interrupted")))))

(defun kernelbridge-restart ()
  "Restart the kernel (only kernels the daemon started)."
  (interactive)
  (let ((kid (kernelbridge--current-kernel)))
    (when (or (not (called-interactively-p 'any))
              (y-or-n-p (format "Restart %s? " (kernelbridge--kernel-name kid))))
      (kernelbridge--repl-notice kid "restarting…")
      (kernelbridge--async
       :kernelbridge/restart (list :kernelId kid)
       (lambda (kernel)
         (kernelbridge--store-kernel kernel)
         (kernelbridge--repl-notice kid "kernel restarted")
         (with-current-buffer (kernelbridge--repl-buffer kid)
           (setq kernelbridge--repl-count 1)
           (kernelbridge--repl-redraw-prompt))
         (message "kernelbridge: %s restarted" (kernelbridge--kernel-name kid)))))))

(defun kernelbridge-shutdown-kernel ()
  "Shut the kernel down (disconnect from a kernel started elsewhere)."
  (interactive)
  (let* ((kid (kernelbridge--current-kernel))
         (name (kernelbridge--kernel-name kid)))
    (kernelbridge--set-state kid "shutdown")
    (kernelbridge--async :kernelbridge/shutdown (list :kernelId kid)
                         (lambda (_)
                           (remhash kid kernelbridge--kernels)
                           (kernelbridge--repl-notice kid "kernel shut down")
                           (force-mode-line-update t)
                           (message "kernelbridge: %s shut down" name)))))

;;;; Executing

(defun kernelbridge--new-execution-id ()
  (format "el%d-%d" (emacs-pid) (cl-incf kernelbridge--execution-counter)))

(defun kernelbridge--execution (eid &optional kid)
  "The record of execution EID (created for executions of other clients)."
  (or (gethash eid kernelbridge--executions)
      (puthash eid (list :id eid :kernel kid) kernelbridge--executions)))

(defun kernelbridge--exec-put (eid prop value)
  (puthash eid (plist-put (kernelbridge--execution eid) prop value)
           kernelbridge--executions))

(defun kernelbridge-execute (code &optional source-buffer on-done)
  "Run CODE on the kernel of SOURCE-BUFFER (default: current buffer).
Output goes to the kernel's REPL buffer; a short result is echoed.
ON-DONE is called with the execute result (or the error plist)."
  (let* ((source (or source-buffer (current-buffer)))
         (eid (kernelbridge--new-execution-id))
         (params (append (list :code code :executionId eid)
                         (with-current-buffer source (kernelbridge--target)))))
    (puthash eid (list :id eid :code code :source source
                       :kernel (plist-get params :kernelId) :echo t)
             kernelbridge--executions)
    (when-let ((kid (plist-get params :kernelId)))
      (kernelbridge--repl-echo-input kid eid code))
    (kernelbridge--async
     :kernelbridge/execute params
     (lambda (result) (kernelbridge--execution-done eid result on-done))
     (lambda (err) (kernelbridge--execution-failed eid err on-done)))
    eid))

(defun kernelbridge--execution-done (eid result on-done)
  "Execution EID answered RESULT: record it, bind the buffer, summarize."
  (let* ((rec (kernelbridge--execution eid))
         (kid (plist-get result :kernelId))
         (source (plist-get rec :source)))
    (kernelbridge--exec-put eid :result result)
    (kernelbridge--exec-put eid :done t)
    (when (and kid (buffer-live-p source))
      (with-current-buffer source
        (unless (derived-mode-p 'kernelbridge-repl-mode)
          (setq kernelbridge--kernel-id kid))))
    (when-let ((count (plist-get result :executionCount))
               (repl (and kid (kernelbridge--repl-buffer kid t))))
      (with-current-buffer repl
        (when-let ((star (plist-get rec :star)))
          (when (and (eq (marker-buffer star) repl)
                     (equal (buffer-substring-no-properties star (min (point-max) (+ star 7)))
                            "In [*]:"))
            (let ((inhibit-read-only t))
              (save-excursion
                (goto-char (+ star 4))
                (delete-char 1)
                (insert (propertize (number-to-string count)
                                    'font-lock-face 'kernelbridge-prompt
                                    'read-only t 'rear-nonsticky t)))))
          (set-marker star nil))
        (setq kernelbridge--repl-count (1+ count))
        (kernelbridge--repl-redraw-prompt)))
    (when (and (buffer-live-p source)
               (not (with-current-buffer source (derived-mode-p 'kernelbridge-repl-mode))))
      (kernelbridge--summarize eid result))
    (when on-done (funcall on-done result))))

(defun kernelbridge--execution-failed (eid err on-done)
  "Execution EID ended with the JSON-RPC error ERR."
  (kernelbridge--exec-put eid :done t)
  (kernelbridge--exec-put eid :rpc-error err)
  (let ((msg (plist-get err :message)))
    (message "kernelbridge: %s" msg)
    (when-let ((kid (plist-get (kernelbridge--execution eid) :kernel)))
      (kernelbridge--repl-notice kid (format "execution failed: %s" msg))))
  (when on-done (funcall on-done (list :status "failed" :error err))))

(defun kernelbridge--plain-text (text)
  "TEXT with terminal semantics applied and ANSI escapes removed."
  (pcase-let ((`(,done ,line ,_col) (kernelbridge--terminal "" 0 text)))
    (ansi-color-filter-apply (concat done line))))

(defun kernelbridge--summarize (eid result)
  "Show the outcome of source-buffer execution EID (RESULT): echo or popup."
  (let* ((rec (kernelbridge--execution eid))
         (text (string-trim-right
                (kernelbridge--plain-text
                 (apply #'concat (reverse (plist-get rec :texts))))))
         (images (plist-get rec :images))
         (status (plist-get result :status))
         (err (plist-get result :error)))
    (cond
     ((and (equal status "error") (string-empty-p text))
      (message "kernelbridge: %s: %s" (plist-get err :ename)
               (ansi-color-filter-apply (or (plist-get err :evalue) ""))))
     ((and (string-empty-p text) (null images))
      (message "kernelbridge: %s%s" (or status "done")
               (if (plist-get result :executionCount)
                   (format " [%s]" (plist-get result :executionCount)) "")))
     ((and (not (string-match-p "\n" text))
           (<= (length text) kernelbridge-result-max-echo-width)
           (null images))
      (message "%s" (if (equal status "error")
                        (format "kernelbridge: %s" text)
                      (concat "=> " text))))
     (t
      (let ((buf (get-buffer-create "*kernelbridge output*")))
        (with-current-buffer buf
          (let ((inhibit-read-only t))
            (erase-buffer)
            (special-mode)
            (insert text "\n")
            (when images
              (insert (format "\n[%d image(s): see the REPL buffer]\n" images)))
            (goto-char (point-min))))
        (display-buffer buf))))))

(defun kernelbridge-eval-region (beg end)
  "Run the text between BEG and END."
  (interactive "r")
  (kernelbridge-execute (buffer-substring-no-properties beg end))
  (when (use-region-p) (deactivate-mark)))

(defun kernelbridge-eval-line ()
  "Run the current line."
  (interactive)
  (kernelbridge-eval-region (line-beginning-position) (line-end-position)))

(defun kernelbridge-eval-dwim ()
  "Run the active region, else the current line."
  (interactive)
  (if (use-region-p)
      (kernelbridge-eval-region (region-beginning) (region-end))
    (kernelbridge-eval-line)))

(defun kernelbridge-eval-buffer ()
  "Run the whole buffer."
  (interactive)
  (save-restriction (widen) (kernelbridge-eval-region (point-min) (point-max))))

(defun kernelbridge-eval-defun ()
  "Run the top-level form around point (as the major mode sees defuns)."
  (interactive)
  (save-excursion
    (let ((end (progn (end-of-defun) (point)))
          (beg (progn (beginning-of-defun) (point))))
      (kernelbridge-eval-region beg end))))

(defun kernelbridge--cell-request (method params &optional on-done)
  "Send cell run METHOD with PARAMS (plus the document's uri)."
  (let* ((source (current-buffer))
         (params (append (list :uri (kernelbridge--sync-document)) params)))
    (kernelbridge--async
     method params
     (lambda (result)
       (let ((cells (or (plist-get result :cells) (list result))))
         (seq-doseq (cell cells)
           (let ((eid (plist-get cell :executionId)))
             (when (and eid (not (equal (plist-get cell :status) "skipped")))
               (kernelbridge--execution-done
                eid (append (list :kernelId (or (plist-get result :kernelId)
                                                (plist-get cell :kernelId)))
                            cell)
                nil))))
         (when (seq-every-p (lambda (c) (equal (plist-get c :status) "skipped")) cells)
           (message "kernelbridge: nothing to run"))
         (when (buffer-live-p source)
           (with-current-buffer source
             (when-let ((kid (plist-get result :kernelId)))
               (setq kernelbridge--kernel-id kid))))
         (when on-done (funcall on-done result)))))))

(defun kernelbridge-eval-cell (&optional on-done)
  "Run the `# %%' cell at point (the daemon cuts the cells).
ON-DONE is called with the result."
  (interactive)
  (kernelbridge--cell-request
   :kernelbridge/executeCell
   (list :position (list :line (1- (line-number-at-pos nil t)) :character 0))
   on-done))

(defun kernelbridge-run-above ()
  "Run every code cell above the cell at point."
  (interactive)
  (kernelbridge--cell-request
   :kernelbridge/runAbove
   (list :position (list :line (1- (line-number-at-pos nil t)) :character 0))))

(defun kernelbridge-run-all ()
  "Run every code cell of the buffer."
  (interactive)
  (kernelbridge--cell-request :kernelbridge/runAll nil))

;;;; Notifications and requests from the daemon

(cl-defmethod kernelbridge-handle-notification
  (_conn (_m (eql kernelbridge/status)) &key kernelId state executionId reason
         &allow-other-keys)
  "Kernel KERNELID changed STATE (REASON: why, on unresponsive and dead)."
  (let ((old (kernelbridge--state kernelId))
        (known (kernelbridge--kernel kernelId)))
    (kernelbridge--set-state kernelId state)
    (unless (plist-get known :kernelspec) (kernelbridge--refresh-kernels))
    (when (and executionId (equal state "busy"))
      (let ((rec (kernelbridge--execution executionId kernelId)))
        (unless (plist-get rec :kernel) (kernelbridge--exec-put executionId :kernel kernelId))
        (when (and (plist-get rec :echo) (not (plist-get rec :echoed)))
          (kernelbridge--repl-echo-input kernelId executionId (plist-get rec :code)))))
    (when (and (equal state "dead") (not (member old '("dead" "shutdown"))))
      (kernelbridge--repl-notice kernelId "kernel died (M-x kernelbridge-restart)")
      (message "kernelbridge: kernel %s died; M-x kernelbridge-restart to relaunch it"
               (kernelbridge--kernel-name kernelId)))
    (when (and (equal state "unresponsive") (not (equal old "unresponsive")))
      (message "kernelbridge: kernel %s is unresponsive: %s.  Requests wait for it; \
M-x kernelbridge-restart kills and relaunches it"
               (kernelbridge--kernel-name kernelId)
               (or reason "it stopped answering its heartbeat")))
    (when (and (equal old "unresponsive") (member state '("busy" "idle")))
      (message "kernelbridge: kernel %s answers again (%s)"
               (kernelbridge--kernel-name kernelId) state))
    (force-mode-line-update t)))

(cl-defmethod kernelbridge-handle-notification
  (_conn (_m (eql kernelbridge/output)) &key kernelId executionId type content
         outputId displayId &allow-other-keys)
  "Draw one output of kernel KERNELID in its REPL buffer."
  (let ((rec (and executionId (kernelbridge--execution executionId kernelId))))
    (when (and rec (plist-get rec :echo) (not (plist-get rec :echoed)))
      (kernelbridge--repl-echo-input kernelId executionId (plist-get rec :code)))
    (with-current-buffer (kernelbridge--repl-buffer kernelId)
      (kernelbridge--repl-output executionId type content outputId displayId))))

(cl-defmethod kernelbridge-handle-notification
  (_conn (_m (eql kernelbridge/cellState)) &key uri range executionId kernelId state
         &allow-other-keys)
  "Mark the cell of a cell run in its source buffer and echo it in the REPL."
  (let ((buf (kernelbridge--buffer-for-uri uri)))
    (kernelbridge--exec-put executionId :kernel kernelId)
    (when buf (kernelbridge--exec-put executionId :source buf))
    (when buf
      (with-current-buffer buf
        (kernelbridge--cell-overlay executionId range state)))
    (when (equal state "running")
      (let ((code (if buf
                      (with-current-buffer buf
                        (kernelbridge--range-text range))
                    (format "# %s" uri))))
        (kernelbridge--repl-echo-input kernelId executionId code)))))

(cl-defmethod kernelbridge-handle-notification
  (_conn (_m (eql textDocument/publishDiagnostics)) &key uri diagnostics &allow-other-keys)
  "Underline the lines that raised in cell runs."
  (when-let ((buf (kernelbridge--buffer-for-uri uri)))
    (with-current-buffer buf
      (remove-overlays nil nil 'kernelbridge-diagnostic t)
      (seq-doseq (d diagnostics)
        (save-excursion
          (let* ((line (plist-get (plist-get (plist-get d :range) :start) :line))
                 (beg (progn (goto-char (point-min)) (forward-line line) (point)))
                 (ov (make-overlay beg (line-end-position))))
            (overlay-put ov 'kernelbridge-diagnostic t)
            (overlay-put ov 'face 'kernelbridge-diagnostic)
            (overlay-put ov 'help-echo (plist-get d :message))))))))

(cl-defmethod kernelbridge-handle-notification
  (_conn (_m (eql window/showMessage)) &key type message &allow-other-keys)
  (message "kernelbridge%s: %s" (if (eql type 1) " error" "") message))

(cl-defmethod kernelbridge-handle-notification
  (_conn (_m (eql $/cancelRequest)) &key id &allow-other-keys)
  "The kernel stopped waiting for input request ID."
  (when-let ((d (gethash id kernelbridge--inputs)))
    (setf (kernelbridge--deferred-cancelled d) t)
    (remhash id kernelbridge--inputs)
    (when (eq d kernelbridge--reading-input)
      ;; Leave the minibuffer from a timer, outside jsonrpc's process filter.
      (run-at-time 0 nil (lambda ()
                           (when (and (eq d kernelbridge--reading-input)
                                      (active-minibuffer-window))
                             (abort-recursive-edit)))))))

(cl-defmethod kernelbridge-handle-request
  (conn (_m (eql kernelbridge/input)) &key kernelId prompt password &allow-other-keys)
  "The kernel asks for a line of input: ask the user outside the filter."
  (let ((d (kernelbridge--make-deferred)))
    (run-at-time 0 nil #'kernelbridge--answer-input conn d kernelId prompt
                 (eq password t))
    d))

(defun kernelbridge-read-input (prompt password)
  "Read a line for the kernel in the minibuffer (`read-passwd' if PASSWORD)."
  (if password (read-passwd prompt) (read-string prompt)))

(defun kernelbridge--answer-input (conn d kid prompt password)
  "Ask the user PROMPT for kernel KID and send the answer for deferred D."
  (let ((id (kernelbridge--deferred-id d)))
    (when (and id (not (kernelbridge--deferred-cancelled d)))
      (puthash id d kernelbridge--inputs)
      (let ((value
             (let ((kernelbridge--reading-input d))
               (condition-case nil
                   (funcall kernelbridge-read-input-function prompt password)
                 (quit nil)))))
        (remhash id kernelbridge--inputs)
        (unless (kernelbridge--deferred-cancelled d)
          (kernelbridge--repl-insert-text
           kid (concat prompt (if password (if value "********" "") (or value ""))
                       (if value "" " [cancelled]") "\n"))
          (when (jsonrpc-running-p conn)
            (if value
                (jsonrpc-connection-send conn :id id :result (list :value value))
              (jsonrpc-connection-send
               conn :id id :error '(:code -32800 :message "input cancelled")))))))))

;;;; Terminal semantics of stream text

(defun kernelbridge--terminal (line col text)
  "Apply TEXT to the open LINE with the cursor at COL.
\\r goes to column 0, \\b back one column, \\n ends the line; other
text overwrites.  Returns (DONE LINE COL): DONE is the text of the
lines completed, LINE and COL the new open line and cursor."
  (let ((done nil) (pos 0) (len (length text)))
    (while (< pos len)
      (let* ((next (or (string-match "[\r\n\b]" text pos) len))
             (seg (substring text pos next)))
        (unless (string-empty-p seg)
          (let ((end (+ col (length seg))))
            (setq line (concat (substring line 0 (min col (length line)))
                               (make-string (max 0 (- col (length line))) ?\s)
                               seg
                               (if (< end (length line)) (substring line end) ""))
                  col end)))
        (when (< next len)
          (pcase (aref text next)
            (?\n (push line done) (push "\n" done) (setq line "" col 0))
            (?\r (setq col 0))
            (?\b (setq col (max 0 (1- col))))))
        (setq pos (1+ next))))
    (list (apply #'concat (nreverse done)) line col)))

;;;; REPL

(defvar kernelbridge-repl-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "RET") #'kernelbridge-repl-return)
    (define-key map (kbd "C-j") #'newline-and-indent)
    (define-key map (kbd "M-p") #'kernelbridge-repl-previous-input)
    (define-key map (kbd "M-n") #'kernelbridge-repl-next-input)
    (define-key map (kbd "C-c C-c") #'kernelbridge-interrupt)
    (define-key map (kbd "C-c C-d") #'kernelbridge-inspect)
    (define-key map (kbd "C-c C-x C-r") #'kernelbridge-restart)
    (define-key map (kbd "TAB") #'completion-at-point)
    map)
  "Keymap of `kernelbridge-repl-mode'.")

(define-derived-mode kernelbridge-repl-mode fundamental-mode "KB-REPL"
  "REPL of a kernelbridge kernel.
\\<kernelbridge-repl-mode-map>\\[kernelbridge-repl-return] sends the \
input when the kernel says it is complete, else inserts a newline.
\\{kernelbridge-repl-mode-map}"
  (setq-local font-lock-defaults '(nil t))
  (font-lock-mode 1)
  (setq-local kernelbridge--repl-history (make-ring 200))
  (setq-local mode-line-process '(:eval (kernelbridge--state-string kernelbridge--repl-kernel)))
  (add-hook 'completion-at-point-functions #'kernelbridge-completion-at-point nil t)
  (add-hook 'eldoc-documentation-functions #'kernelbridge-eldoc-function nil t)
  (eldoc-mode 1))

(defun kernelbridge--repl-buffer (kid &optional noerror-if-missing)
  "The REPL buffer of kernel KID (created unless NOERROR-IF-MISSING)."
  (or (seq-find (lambda (b) (and (buffer-live-p b)
                                 (equal (buffer-local-value 'kernelbridge--repl-kernel b)
                                        kid)))
                (buffer-list))
      (unless noerror-if-missing
        (let ((buf (generate-new-buffer
                    (format "*kernelbridge %s*" (kernelbridge--kernel-name kid)))))
          (with-current-buffer buf
            (kernelbridge-repl-mode)
            (setq kernelbridge--repl-kernel kid)
            (let ((inhibit-read-only t)
                  (banner (plist-get (kernelbridge--kernel kid) :banner)))
              (insert (propertize (concat (or banner "") "\n")
                                  'read-only t 'rear-nonsticky t 'front-sticky t))
              (setq kernelbridge--repl-prompt-start (copy-marker (point) t))
              (setq kernelbridge--repl-input-start (copy-marker (point)))
              (kernelbridge--repl-redraw-prompt)))
          buf))))

(defun kernelbridge--repl-redraw-prompt ()
  "Redraw the prompt of the current REPL, keeping the input."
  (let ((inhibit-read-only t)
        (input (buffer-substring kernelbridge--repl-input-start (point-max)))
        (at-input (>= (point) kernelbridge--repl-input-start))
        (offset (- (point) kernelbridge--repl-input-start)))
    (save-excursion
      (delete-region kernelbridge--repl-prompt-start (point-max))
      (goto-char kernelbridge--repl-prompt-start)
      (insert (propertize (format "In [%d]: " kernelbridge--repl-count)
                          'font-lock-face 'kernelbridge-prompt 'field 'output
                          'read-only t 'rear-nonsticky t 'front-sticky t))
      ;; The prompt marker advances on insertion: put it back before the prompt.
      (set-marker kernelbridge--repl-prompt-start
                  (- (point) (length (format "In [%d]: " kernelbridge--repl-count))))
      (set-marker kernelbridge--repl-input-start (point))
      (insert input))
    (when at-input
      (goto-char (+ kernelbridge--repl-input-start (max 0 offset))))))

(defun kernelbridge--repl-close-line ()
  "End the open stream line: later text starts below it."
  (setq kernelbridge--repl-open nil))

(defun kernelbridge--repl-point ()
  "Where REPL output goes: above the prompt, or `kernelbridge--repl-insert-at'."
  (or kernelbridge--repl-insert-at kernelbridge--repl-prompt-start))

(defun kernelbridge--repl-insert (string &optional keep-open)
  "Insert STRING (read-only) above the prompt of the current REPL.
Unless KEEP-OPEN, an open stream line is closed first."
  (unless (or keep-open kernelbridge--repl-insert-at) (kernelbridge--repl-close-line))
  (let ((inhibit-read-only t)
        (windows (seq-filter (lambda (w) (>= (window-point w) kernelbridge--repl-prompt-start))
                             (get-buffer-window-list nil nil t))))
    (save-excursion
      (goto-char (kernelbridge--repl-point))
      (let ((beg (point)))
        (insert string)
        (add-text-properties beg (point) '(read-only t rear-nonsticky t front-sticky t))))
    ;; Keep windows that showed the end at the end.
    (dolist (w windows)
      (when (< (window-point w) kernelbridge--repl-input-start)
        (set-window-point w (point-max))))))

(defun kernelbridge--repl-insert-text (kid string)
  "Insert STRING into the REPL of kernel KID."
  (with-current-buffer (kernelbridge--repl-buffer kid)
    (kernelbridge--repl-insert string)))

(defun kernelbridge--repl-notice (kid text)
  "Insert the notice TEXT into the REPL of KID, if it has one."
  (when-let ((buf (kernelbridge--repl-buffer kid t)))
    (with-current-buffer buf
      (kernelbridge--repl-insert
       (propertize (format "[%s]\n" text) 'font-lock-face 'kernelbridge-notice)))))

(defun kernelbridge--repl-echo-input (kid eid code)
  "Show CODE of execution EID in the REPL of KID, once."
  (let ((rec (kernelbridge--execution eid kid)))
    (unless (plist-get rec :echoed)
      (kernelbridge--exec-put eid :echoed t)
      (kernelbridge--exec-put eid :kernel kid)
      (with-current-buffer (kernelbridge--repl-buffer kid)
        ;; "In [*]" becomes "In [<count>]" when the result arrives.
        (kernelbridge--exec-put eid :star (copy-marker (kernelbridge--repl-point)))
        (kernelbridge--repl-insert
         (concat (propertize "In [*]: " 'font-lock-face 'kernelbridge-prompt)
                 (string-trim-right (or code "")) "\n"))
        (push (cons eid (copy-marker kernelbridge--repl-prompt-start))
              kernelbridge--repl-exec-starts)))))

(defun kernelbridge--repl-exec-start (eid)
  "Marker where the output of EID starts (created at the current end)."
  (or (cdr (assoc eid kernelbridge--repl-exec-starts))
      (let ((m (copy-marker kernelbridge--repl-prompt-start)))
        (push (cons eid m) kernelbridge--repl-exec-starts)
        (when (> (length kernelbridge--repl-exec-starts) 200)
          (setcdr (nthcdr 199 kernelbridge--repl-exec-starts) nil))
        m)))

(defun kernelbridge--repl-stream (key name text)
  "Add stream TEXT of stream NAME (open-line key KEY) with terminal semantics."
  (let* ((text (ansi-color-apply text))
         (text (if (equal name "stderr")
                   (propertize text 'font-lock-face 'kernelbridge-stderr)
                 text))
         (open (and (equal (car kernelbridge--repl-open) key) kernelbridge--repl-open))
         (line (if open (nth 2 open) ""))
         (col (if open (nth 3 open) 0))
         (inhibit-read-only t))
    (pcase-let ((`(,done ,newline ,newcol) (kernelbridge--terminal line col text)))
      (when open
        (delete-region (nth 1 open) kernelbridge--repl-prompt-start))
      (kernelbridge--repl-close-line)
      (kernelbridge--repl-insert done)
      (unless (string-empty-p newline)
        (let ((start (copy-marker kernelbridge--repl-prompt-start)))
          ;; The open line is shown followed by a newline, so the prompt
          ;; stays on a line of its own; the next chunk rewrites both.
          (kernelbridge--repl-insert (concat newline "\n") t)
          (setq kernelbridge--repl-open (list key start newline newcol)))))))

(defun kernelbridge--image-type (mime)
  (pcase mime
    ("image/png" 'png) ("image/svg+xml" 'svg) ("image/jpeg" 'jpeg) ("image/gif" 'gif)))

(defun kernelbridge--render-data (content prefix)
  "Insert a display or result CONTENT (plist) above the prompt, after PREFIX."
  (let* ((files (plist-get content :files))
         (data (plist-get content :data))
         (image (cl-loop for (mime file) on files by #'cddr
                         for type = (kernelbridge--image-type
                                     (substring (symbol-name mime) 1))
                         when type return (list type file (substring (symbol-name mime) 1))))
         (plain (plist-get data :text/plain)))
    (cond
     (image
      (pcase-let ((`(,type ,file ,mime) image))
        (let ((alt (format "[%s: %s]" mime file))
              (inhibit-read-only t))
          (kernelbridge--repl-insert (or prefix ""))
          (save-excursion
            (goto-char (kernelbridge--repl-point))
            (let ((beg (point)))
              (if (image-type-available-p type)
                  (insert-image (create-image file type nil
                                              :max-width kernelbridge-image-max-width)
                                alt)
                (insert alt))
              (put-text-property beg (point) 'kernelbridge-image-file file)
              (insert "\n")
              (add-text-properties beg (point) '(read-only t rear-nonsticky t)))))))
     (plain
      (kernelbridge--repl-insert (concat (or prefix "") (ansi-color-apply plain) "\n")))
     (t (kernelbridge--repl-insert
         (format "%s[%s]\n" (or prefix "")
                 (string-join (cl-loop for (k _v) on data by #'cddr
                                       collect (substring (symbol-name k) 1))
                              ", ")))))))

(defun kernelbridge--repl-display (content prefix display-id)
  "Render CONTENT; remember its region under DISPLAY-ID."
  (let ((beg (copy-marker kernelbridge--repl-prompt-start)))
    (kernelbridge--render-data content prefix)
    (when display-id
      (push (cons beg (copy-marker kernelbridge--repl-prompt-start))
            (alist-get display-id kernelbridge--repl-displays nil nil #'equal)))))

(defun kernelbridge--repl-update-display (content display-id)
  "Redraw every region of DISPLAY-ID with CONTENT."
  (let ((inhibit-read-only t))
    (dolist (region (alist-get display-id kernelbridge--repl-displays nil nil #'equal))
      (when (marker-buffer (car region))
        (delete-region (car region) (cdr region))
        (let ((kernelbridge--repl-insert-at (copy-marker (car region) t)))
          (kernelbridge--render-data content nil)
          (set-marker (cdr region) kernelbridge--repl-insert-at)
          (set-marker kernelbridge--repl-insert-at nil))))))

(defun kernelbridge--repl-output (eid type content output-id display-id)
  "Draw output TYPE with CONTENT of execution EID in the current REPL."
  (ignore output-id)
  (let ((rec (and eid (kernelbridge--execution eid))))
    (when eid (kernelbridge--repl-exec-start eid))
    (pcase type
      ("stream"
       (let ((text (plist-get content :text)) (name (plist-get content :name)))
         (when rec (kernelbridge--exec-put eid :texts (cons text (plist-get rec :texts))))
         (kernelbridge--repl-stream (cons eid name) name text)))
      ((or "display_data" "execute_result")
       (let ((count (plist-get content :execution_count))
             (plain (plist-get (plist-get content :data) :text/plain)))
         (when rec
           (if (plist-get content :files)
               (kernelbridge--exec-put eid :images (1+ (or (plist-get rec :images) 0)))
             (when plain
               (kernelbridge--exec-put eid :texts (cons (concat plain "\n")
                                                        (plist-get rec :texts))))))
         (kernelbridge--repl-display
          content (and count (propertize (format "Out[%s]: " count)
                                         'font-lock-face 'kernelbridge-prompt))
          display-id)))
      ("update_display_data"
       (kernelbridge--repl-update-display content display-id))
      ("error"
       (let ((tb (mapconcat #'identity (plist-get content :traceback) "\n")))
         (when rec
           (kernelbridge--exec-put
            eid :texts (cons (format "%s: %s\n" (plist-get content :ename)
                                     (plist-get content :evalue))
                             (plist-get rec :texts))))
         (kernelbridge--repl-insert (concat (ansi-color-apply tb) "\n"))))
      ("clear_output"
       (let ((inhibit-read-only t))
         (when-let ((start (and eid (cdr (assoc eid kernelbridge--repl-exec-starts)))))
           (delete-region start kernelbridge--repl-prompt-start))
         (kernelbridge--repl-close-line)
         (when rec (kernelbridge--exec-put eid :texts nil))))
      ("truncated"
       (kernelbridge--repl-insert
        (propertize (format "[%s]\n" (plist-get content :message))
                    'font-lock-face 'kernelbridge-notice)))
      (_ nil))))

(defun kernelbridge-repl-return ()
  "Send the input if the kernel says it is complete; else insert a newline."
  (interactive)
  (if (< (point) kernelbridge--repl-input-start)
      (goto-char (point-max))
    (let* ((code (buffer-substring-no-properties kernelbridge--repl-input-start (point-max)))
           (kid kernelbridge--repl-kernel)
           (reply (and (not (string-blank-p code))
                       (equal (kernelbridge--state kid) "idle")
                       (condition-case nil
                           (kernelbridge--request :kernelbridge/isComplete
                                                  (list :kernelId kid :code code))
                         (error nil)))))
      (if (equal (plist-get reply :status) "incomplete")
          (progn (goto-char (point-max))
                 (insert "\n" (or (plist-get reply :indent) "")))
        (kernelbridge-repl-send code)))))

(defun kernelbridge-repl-send (code)
  "Run CODE as the REPL's input: echo it, clear the input, execute it."
  (let ((inhibit-read-only t)
        (eid (kernelbridge--new-execution-id))
        (kid kernelbridge--repl-kernel)
        (buf (current-buffer)))
    (unless (string-blank-p code) (ring-insert kernelbridge--repl-history code))
    (setq kernelbridge--repl-history-index nil)
    (delete-region kernelbridge--repl-input-start (point-max))
    (puthash eid (list :id eid :kernel kid :code code :source buf)
             kernelbridge--executions)
    (kernelbridge--exec-put eid :echoed t)
    (kernelbridge--repl-insert
     (concat (propertize (format "In [%d]: " kernelbridge--repl-count)
                         'font-lock-face 'kernelbridge-prompt)
             code "\n"))
    (kernelbridge--repl-exec-start eid)
    (goto-char (point-max))
    (kernelbridge--async
     :kernelbridge/execute (list :kernelId kid :code code :executionId eid)
     (lambda (result) (kernelbridge--execution-done eid result nil))
     (lambda (err) (kernelbridge--execution-failed eid err nil)))))

(defun kernelbridge-repl-previous-input (n)
  "Replace the input with the Nth previous one."
  (interactive "p")
  (let ((ring kernelbridge--repl-history))
    (unless (ring-empty-p ring)
      (setq kernelbridge--repl-history-index
            (mod (+ (or kernelbridge--repl-history-index -1) n) (ring-length ring)))
      (delete-region kernelbridge--repl-input-start (point-max))
      (goto-char (point-max))
      (insert (ring-ref ring kernelbridge--repl-history-index)))))

(defun kernelbridge-repl-next-input (n)
  "Replace the input with the Nth next one."
  (interactive "p")
  (kernelbridge-repl-previous-input (- n)))

;;;###autoload
(defun kernelbridge-repl ()
  "Pop to the REPL buffer of this buffer's kernel."
  (interactive)
  (pop-to-buffer (kernelbridge--repl-buffer (kernelbridge--current-kernel))))

;;;; Completion, eldoc, help

(defun kernelbridge--code-and-cursor ()
  "The code and code-point cursor to send for completion and inspection.
In the REPL: its input; elsewhere: the whole buffer.  Emacs counts
characters, which are code points, as Jupyter's cursor_pos does."
  (if (derived-mode-p 'kernelbridge-repl-mode)
      (if (< (point) kernelbridge--repl-input-start)
          nil
        (list (buffer-substring-no-properties kernelbridge--repl-input-start (point-max))
              (- (point) kernelbridge--repl-input-start)
              (marker-position kernelbridge--repl-input-start)))
    (save-restriction
      (widen)
      (list (kernelbridge--buffer-text) (- (point) (point-min)) (point-min)))))

(defun kernelbridge--usable-kernel-p ()
  "Non-nil when completion/inspect may ask the kernel (known and idle)."
  (let ((kid (if (derived-mode-p 'kernelbridge-repl-mode)
                 kernelbridge--repl-kernel
               (kernelbridge--current-kernel t))))
    (and kernelbridge--connection kid
         (equal (kernelbridge--state kid) "idle"))))

(defun kernelbridge-completion-at-point ()
  "Completion from the kernel (`kernelbridge/complete'), for capf."
  (when-let* (((kernelbridge--usable-kernel-p))
              (ccb (kernelbridge--code-and-cursor)))
    (pcase-let* ((`(,code ,cursor ,base) ccb)
                 (reply (condition-case nil
                            (kernelbridge--request
                             :kernelbridge/complete
                             (append (list :code code :cursorPos cursor)
                                     (kernelbridge--target)))
                          (error nil))))
      (when (and reply (equal (plist-get reply :status) "ok")
                 (> (length (plist-get reply :matches)) 0))
        (let* ((types (plist-get (plist-get reply :metadata) :_jupyter_types_experimental))
               (annotations (make-hash-table :test #'equal))
               (matches (append (plist-get reply :matches) nil)))
          (seq-doseq (ty types)
            (let ((type (plist-get ty :type)))
              (when (and type (not (equal type "<unknown>")))
                (puthash (plist-get ty :text) (concat " " type) annotations))))
          (list (+ base (plist-get reply :cursor_start))
                (+ base (plist-get reply :cursor_end))
                matches
                :exclusive 'no
                :annotation-function (lambda (c) (gethash c annotations))))))))

(defun kernelbridge--inspect (detail)
  "The kernel's inspect reply at point with DETAIL level, or nil."
  (when-let ((ccb (kernelbridge--code-and-cursor)))
    (pcase-let ((`(,code ,cursor ,_base) ccb))
      (kernelbridge--request :kernelbridge/inspect
                             (append (list :code code :cursorPos cursor :detailLevel detail)
                                     (kernelbridge--target))))))

(defun kernelbridge-eldoc-function (callback &rest _)
  "Eldoc backend: the signature line of the kernel's inspection, via CALLBACK."
  (when-let* (((kernelbridge--usable-kernel-p))
              (ccb (kernelbridge--code-and-cursor)))
    (pcase-let ((`(,code ,cursor ,_base) ccb))
      (condition-case nil
          (progn
            (kernelbridge--async
             :kernelbridge/inspect
             (append (list :code code :cursorPos cursor :detailLevel 0)
                     (kernelbridge--target))
             (lambda (reply)
               (let ((text (and (eq (plist-get reply :found) t)
                                (plist-get (plist-get reply :data) :text/plain))))
                 (when text
                   (let* ((lines (split-string (ansi-color-filter-apply text) "\n" t))
                          (sig (or (seq-find (lambda (l) (string-prefix-p "Signature:" l))
                                             lines)
                                   (car lines))))
                     (funcall callback (string-trim sig))))))
             #'ignore)
            t)
        (error nil)))))

(defun kernelbridge--show-help (text)
  "Show inspection TEXT (with ANSI colours) in `*kernelbridge help*'.
Keeps help-mode's back/forward history (l and r) in that buffer."
  (with-current-buffer (get-buffer-create "*kernelbridge help*")
    ;; `help-setup-xref' would keep the stack in *Help*; keep it here.
    (unless help-xref-following
      (when help-xref-stack-item
        (push (cons (point) help-xref-stack-item) help-xref-stack)
        (setq help-xref-forward-stack nil)))
    (setq help-xref-stack-item (list #'kernelbridge--show-help text)))
  (with-help-window "*kernelbridge help*"
    (with-current-buffer standard-output
      (insert (ansi-color-apply text)))))

(defun kernelbridge-inspect (&optional detail)
  "Show the kernel's help for the code at point in `*kernelbridge help*'.
With a prefix argument DETAIL, ask for more detail (e.g. the source)."
  (interactive "P")
  (let* ((reply (condition-case err
                    (kernelbridge--inspect (if detail 1 0))
                  (jsonrpc-error (user-error "kernelbridge: %s"
                                             (kernelbridge--error-message err)))))
         (text (and (eq (plist-get reply :found) t)
                    (plist-get (plist-get reply :data) :text/plain))))
    (if text
        (kernelbridge--show-help text)
      (message "kernelbridge: nothing known about the code at point"))))

;;;; Cells in source buffers

(defun kernelbridge--range-text (range)
  "The text of the whole lines of LSP RANGE, trailing blank lines removed."
  (save-excursion
    (save-restriction
      (widen)
      (let ((start (plist-get (plist-get range :start) :line))
            (end (plist-get (plist-get range :end) :line)))
        (goto-char (point-min))
        (forward-line start)
        (let ((beg (point)))
          (forward-line (- end start))
          (string-trim-right (buffer-substring-no-properties beg (point))))))))

(defun kernelbridge--cell-overlay (eid range state)
  "Show STATE of execution EID over the lines of RANGE."
  (let ((ov (seq-find (lambda (o) (equal (overlay-get o 'kernelbridge-cell) eid))
                      (save-restriction (widen) (overlays-in (point-min) (point-max))))))
    (if (member state '("done" "failed" "skipped"))
        (when ov (delete-overlay ov))
      (unless ov
        (save-excursion
          (save-restriction
            (widen)
            (goto-char (point-min))
            (forward-line (plist-get (plist-get range :start) :line))
            (let ((beg (point)))
              (forward-line (- (plist-get (plist-get range :end) :line)
                               (plist-get (plist-get range :start) :line)))
              (setq ov (make-overlay beg (point)))
              (overlay-put ov 'kernelbridge-cell eid)))))
      (overlay-put ov 'face (if (equal state "running")
                                'kernelbridge-cell-running
                              'kernelbridge-cell-queued)))))

;;;; Mode line and the minor mode

(defun kernelbridge--state-string (kid)
  "Mode line text of the state of kernel KID: \" [idle]\", or \"\" without KID.
An unresponsive kernel's state has the face `kernelbridge-unresponsive'."
  (if kid
      (let ((state (or (kernelbridge--state kid) "?")))
        (format " [%s]" (if (equal state "unresponsive")
                            (propertize state 'face 'kernelbridge-unresponsive)
                          state)))
    ""))

(defun kernelbridge--lighter ()
  "Mode line text of `kernelbridge-mode'."
  (let ((kid (and kernelbridge--kernel-id (kernelbridge--kernel kernelbridge--kernel-id)
                  kernelbridge--kernel-id)))
    (if kid
        (format " KB:%s%s" (or (plist-get (kernelbridge--kernel kid) :kernelspec) "")
                (kernelbridge--state-string kid))
      " KB")))

(defvar kernelbridge-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "C-c C-c") #'kernelbridge-eval-dwim)
    (define-key map (kbd "C-c C-l") #'kernelbridge-eval-line)
    (define-key map (kbd "C-c C-r") #'kernelbridge-eval-region)
    (define-key map (kbd "C-c C-b") #'kernelbridge-eval-buffer)
    (define-key map (kbd "C-M-x") #'kernelbridge-eval-defun)
    (define-key map (kbd "C-c C-e") #'kernelbridge-eval-cell)
    (define-key map (kbd "C-c C-a") #'kernelbridge-run-above)
    (define-key map (kbd "C-c M-a") #'kernelbridge-run-all)
    (define-key map (kbd "C-c C-d") #'kernelbridge-inspect)
    (define-key map (kbd "C-c C-z") #'kernelbridge-repl)
    (define-key map (kbd "C-c C-s") #'kernelbridge-start)
    (define-key map (kbd "C-c C-i") #'kernelbridge-interrupt)
    (define-key map (kbd "C-c C-x C-r") #'kernelbridge-restart)
    (define-key map (kbd "C-c C-x C-c") #'kernelbridge-connect)
    (define-key map (kbd "C-c C-x C-k") #'kernelbridge-shutdown-kernel)
    map)
  "Keymap of `kernelbridge-mode'.")

;;;###autoload
(define-minor-mode kernelbridge-mode
  "Run code of this buffer on Jupyter kernels through kernelbridge.
\\{kernelbridge-mode-map}"
  :lighter (:eval (kernelbridge--lighter))
  :keymap kernelbridge-mode-map
  (cond
   (kernelbridge-mode
    (add-hook 'completion-at-point-functions #'kernelbridge-completion-at-point nil t)
    (add-hook 'eldoc-documentation-functions #'kernelbridge-eldoc-function nil t)
    (add-hook 'after-change-functions #'kernelbridge--after-change nil t)
    (add-hook 'kill-buffer-hook #'kernelbridge--close-document nil t))
   (t
    (remove-hook 'completion-at-point-functions #'kernelbridge-completion-at-point t)
    (remove-hook 'eldoc-documentation-functions #'kernelbridge-eldoc-function t)
    (remove-hook 'after-change-functions #'kernelbridge--after-change t)
    (remove-hook 'kill-buffer-hook #'kernelbridge--close-document t)
    (kernelbridge--close-document))))

(provide 'kernelbridge)
;;; kernelbridge.el ends here
