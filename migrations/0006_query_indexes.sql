-- drizzle-kit 0.31 splits an index expression at its commas; the two coalesce() indexes are written by hand.
CREATE INDEX `audit_action_at_idx` ON `audit_events` (`action`,`at`);--> statement-breakpoint
CREATE INDEX `principals_subject_lower_idx` ON `principals` (lower("subject"));--> statement-breakpoint
CREATE INDEX `tokens_created_id_idx` ON `tokens` (`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `tokens_name_id_idx` ON `tokens` (`name_key`,`id`);--> statement-breakpoint
CREATE INDEX `tokens_expiry_sort_idx` ON `tokens` (coalesce("expires_at", 9007199254740991),`id`);--> statement-breakpoint
CREATE INDEX `tokens_last_used_sort_idx` ON `tokens` (coalesce("last_used_at", 0),`id`);