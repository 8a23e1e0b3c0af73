import type { RequestContext } from '../auth/context.js';
import type { AccessPolicy } from './image-policy.js';
import type { TaskRecord } from './task-model.js';

/** The task rules that guard one call each, after `tasks_api_access`. */
export type TaskRule = 'get_task' | 'get_tasks' | 'add_task';

/**
 * Glance's task policies. `tasks_api_access` (admin by default) guards every /v2/tasks call and
 * is checked first, on an empty target, as Glance's TasksAPIPolicy does; the per-call rules
 * (`get_task`, `get_tasks`, `add_task`: `rule:default`, i.e. allow) follow it, with the task's
 * project as target so an operator may tie them to the owner. `modify_task` guards nothing, as
 * in Glance. Image rules are not task rules: GET /v2/images/{id}/tasks asks `get_image` only.
 */
export class TaskPolicy {
  constructor(private readonly policy: AccessPolicy) {}

  /** 403 unless `tasks_api_access` allows the caller: the first check of every /v2/tasks call. */
  assertApiAccess(ctx: RequestContext): void {
    this.policy.enforce(ctx, 'tasks_api_access', {});
  }

  /** 403 unless `rule` allows the caller on `task` (or, for creation and lists, on its own project). */
  enforce(ctx: RequestContext, rule: TaskRule, task?: TaskRecord): void {
    const project = task ? task.owner : ctx.projectId;
    this.policy.enforce(ctx, rule, { project_id: project, owner: project });
  }
}

/**
 * Glance's `_is_task_visible`: admins see every task, everyone a task without owner, a project
 * its own tasks.
 */
export function taskVisibleTo(ctx: RequestContext, task: TaskRecord): boolean {
  return ctx.isAdmin || task.owner === null || (ctx.projectId !== null && task.owner === ctx.projectId);
}
