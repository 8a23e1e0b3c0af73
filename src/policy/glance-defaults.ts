/**
 * Glance's default policy rules (secure RBAC personas: admin, project member, project reader),
 * by the names Glance checks. An operator's policy.yaml overrides any of them by name.
 */
const ADMIN = 'rule:context_is_admin';
const ADMIN_OR_PROJECT_MEMBER = 'rule:context_is_admin or (role:member and project_id:%(project_id)s)';
const ADMIN_OR_PROJECT_READER = 'rule:context_is_admin or (role:reader and project_id:%(project_id)s)';
const GET_IMAGE =
  "rule:context_is_admin or (role:reader and (project_id:%(project_id)s or project_id:%(member_id)s or 'community':%(visibility)s or 'public':%(visibility)s or 'shared':%(visibility)s))";
const DOWNLOAD_IMAGE =
  "rule:context_is_admin or (role:member and (project_id:%(project_id)s or project_id:%(member_id)s or 'community':%(visibility)s or 'public':%(visibility)s or 'shared':%(visibility)s))";
const CREATE_IMAGE = 'rule:context_is_admin or (role:member and project_id:%(project_id)s and project_id:%(owner)s)';
const GET_NAMESPACE = "rule:context_is_admin or (role:reader and (project_id:%(project_id)s or 'public':%(visibility)s))";
const SHARED_MEMBER = 'rule:context_is_admin or (role:member and project_id:%(member_id)s)';
const READER_OR_SHARED_MEMBER = 'rule:context_is_admin or role:reader and (project_id:%(project_id)s or project_id:%(member_id)s)';
const SERVICE_OR_PROJECT_MEMBER = 'rule:service_api or (role:member and project_id:%(project_id)s and project_id:%(owner)s)';
const ADMIN_OR_SERVICE = 'rule:context_is_admin or rule:service_api';

export const GLANCE_DEFAULT_RULES: Readonly<Record<string, string>> = {
  default: '',
  context_is_admin: 'role:admin',
  service_api: 'role:service or role:admin',

  add_image: CREATE_IMAGE,
  get_image: GET_IMAGE,
  get_images: ADMIN_OR_PROJECT_READER,
  modify_image: ADMIN_OR_PROJECT_MEMBER,
  publicize_image: ADMIN,
  communitize_image: ADMIN_OR_PROJECT_MEMBER,
  delete_image: ADMIN_OR_PROJECT_MEMBER,
  upload_image: ADMIN_OR_PROJECT_MEMBER,
  download_image: DOWNLOAD_IMAGE,
  download_from_store: DOWNLOAD_IMAGE,
  get_image_location: ADMIN_OR_PROJECT_READER,
  set_image_location: ADMIN_OR_PROJECT_MEMBER,
  delete_image_location: ADMIN,
  add_image_location: SERVICE_OR_PROJECT_MEMBER,
  fetch_image_location: 'rule:service_api',

  add_member: ADMIN_OR_PROJECT_MEMBER,
  delete_member: ADMIN_OR_PROJECT_MEMBER,
  get_member: READER_OR_SHARED_MEMBER,
  get_members: READER_OR_SHARED_MEMBER,
  modify_member: SHARED_MEMBER,

  deactivate: ADMIN_OR_PROJECT_MEMBER,
  reactivate: ADMIN_OR_PROJECT_MEMBER,
  copy_image: ADMIN,

  manage_image_cache: ADMIN,
  cache_image: ADMIN,
  cache_list: ADMIN,
  cache_delete: ADMIN,
  cache_clean: ADMIN,
  cache_prune: ADMIN,
  list_cached_nodes: ADMIN,

  stores_info_detail: ADMIN_OR_SERVICE,

  tasks_api_access: ADMIN,
  get_task: 'rule:default',
  get_tasks: 'rule:default',
  add_task: 'rule:default',
  modify_task: 'rule:default',

  metadef_default: '',
  metadef_admin: 'rule:context_is_admin',
  get_metadef_namespace: GET_NAMESPACE,
  get_metadef_namespaces: ADMIN_OR_PROJECT_READER,
  modify_metadef_namespace: 'rule:metadef_admin',
  add_metadef_namespace: 'rule:metadef_admin',
  delete_metadef_namespace: 'rule:metadef_admin',
  get_metadef_object: GET_NAMESPACE,
  get_metadef_objects: GET_NAMESPACE,
  modify_metadef_object: 'rule:metadef_admin',
  add_metadef_object: 'rule:metadef_admin',
  delete_metadef_object: 'rule:metadef_admin',
  list_metadef_resource_types: GET_NAMESPACE,
  get_metadef_resource_type: GET_NAMESPACE,
  add_metadef_resource_type_association: 'rule:metadef_admin',
  remove_metadef_resource_type_association: 'rule:metadef_admin',
  get_metadef_property: GET_NAMESPACE,
  get_metadef_properties: GET_NAMESPACE,
  modify_metadef_property: 'rule:metadef_admin',
  add_metadef_property: 'rule:metadef_admin',
  remove_metadef_property: 'rule:metadef_admin',
  get_metadef_tag: GET_NAMESPACE,
  get_metadef_tags: GET_NAMESPACE,
  modify_metadef_tag: 'rule:metadef_admin',
  add_metadef_tag: 'rule:metadef_admin',
  add_metadef_tags: 'rule:metadef_admin',
  delete_metadef_tag: 'rule:metadef_admin',
  delete_metadef_tags: 'rule:metadef_admin',
};
