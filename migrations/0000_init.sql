CREATE TABLE `audit_events` (
	`id` text PRIMARY KEY NOT NULL,
	`at` integer NOT NULL,
	`action` text NOT NULL,
	`actor_id` text,
	`actor_kind` text NOT NULL,
	`actor_token_id` text,
	`owner_id` text,
	`target_type` text NOT NULL,
	`target_id` text NOT NULL,
	`ip` text,
	`user_agent` text,
	`detail` text,
	`request_id` text
);
--> statement-breakpoint
CREATE INDEX `audit_owner_at_idx` ON `audit_events` (`owner_id`,`at`);--> statement-breakpoint
CREATE INDEX `audit_actor_at_idx` ON `audit_events` (`actor_id`,`at`);--> statement-breakpoint
CREATE INDEX `audit_target_at_idx` ON `audit_events` (`target_id`,`at`);--> statement-breakpoint
CREATE INDEX `audit_at_idx` ON `audit_events` (`at`);--> statement-breakpoint
CREATE TABLE `principals` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`subject` text,
	`name` text,
	`email` text,
	`description` text,
	`role` text NOT NULL,
	`active` integer DEFAULT true NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`last_seen_at` integer,
	`created_by` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `principals_subject_uq` ON `principals` (`subject`);--> statement-breakpoint
CREATE TABLE `tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`owner_id` text NOT NULL,
	`type` text NOT NULL,
	`name` text NOT NULL,
	`name_key` text NOT NULL,
	`description` text,
	`scopes` text DEFAULT '[]' NOT NULL,
	`secret_hash` text NOT NULL,
	`pepper_version` integer NOT NULL,
	`hint` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`created_by` text NOT NULL,
	`expires_at` integer,
	`revoked_at` integer,
	`revoked_by` text,
	`revoke_reason` text,
	`last_used_at` integer,
	`last_used_ip` text,
	`rotated_from_id` text,
	FOREIGN KEY (`owner_id`) REFERENCES `principals`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tokens_secret_hash_uq` ON `tokens` (`secret_hash`);--> statement-breakpoint
CREATE UNIQUE INDEX `tokens_owner_name_uq` ON `tokens` (`owner_id`,`name_key`) WHERE "tokens"."revoke_reason" IS NOT 'rotated';--> statement-breakpoint
CREATE INDEX `tokens_owner_created_idx` ON `tokens` (`owner_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `tokens_expires_idx` ON `tokens` (`expires_at`);