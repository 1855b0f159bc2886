return function() end and (function()
  -- mailpanel's signing policy: which messages rspamd's dkim_signing module
  -- signs, and with which keys (docs/dkim.md). It replaces the module's own
  -- sign_* and allow_* options, which cannot express two of its rules (a
  -- client's null sender, Postfix's own notices).
  --
  -- dkim_signing runs this text once per configuration load when it starts
  -- with "return function" (any other text is wrapped into a function that
  -- runs for every message). The leading no-op function only satisfies that
  -- test: "and" yields the closure below, built once with the key table.
  local opts = rspamd_config:get_all_opt('dkim_signing') or {}
  local domains = {}
  for name, entry in pairs(opts.domain or {}) do
    local keys = {}
    for _, sel in ipairs(entry.selectors or {}) do
      keys[#keys + 1] = { selector = sel.selector, key = sel.path }
    end
    domains[name] = keys
  end
  local hostname = opts.mailpanel_hostname
  local notice_domain = opts.mailpanel_notice_domain

  return function(task)
    -- Only mail Postfix marks as leaving from here (milter_macro_daemon_name):
    -- submission, the local smtpd, sendmail(1) and Postfix's own notices.
    -- Port 25 never is, whoever connects to it.
    local tag = task:get_request_header('MTA-Name')
    if not tag or tostring(tag) ~= 'ORIGINATING' then
      return false
    end
    local user = task:get_user()
    local ip = task:get_from_ip()
    if not user and not (ip and ip:is_local()) then
      return false
    end
    local from = task:get_from('mime')
    if not from or #from ~= 1 or not from[1].domain or from[1].domain == '' then
      return false
    end
    local domain = string.lower(from[1].domain)
    local envelope = (task:get_from('smtp') or {})[1]
    if envelope and envelope.addr and envelope.addr ~= '' then
      -- Postfix checked that the login owns the envelope sender
      -- (smtpd_sender_login_maps); From: must be in that sender's domain, so a
      -- mailbox of one hosted domain never gets another domain's signature.
      if string.lower(envelope.domain or '') ~= domain then
        return false
      end
    elseif user then
      -- Postfix checks no owner for a client's null sender: its From: could
      -- name any hosted domain.
      return false
    elseif domain == hostname and notice_domain then
      -- Bounces and notices come from MAILER-DAEMON@myhostname: signed by
      -- the hosted domain the host name belongs to (DMARC's relaxed alignment).
      domain = notice_domain
    end
    local keys = domains[domain]
    if not keys then
      return false
    end
    local sign = {}
    for i, k in ipairs(keys) do
      sign[i] = { domain = domain, selector = k.selector, key = k.key }
    end
    return sign
  end
end)()
