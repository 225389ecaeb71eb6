from src.utils.instantiators import instantiate_callbacks
from src.utils.pylogger import RankedLogger
from src.utils.rich_utils import enforce_tags, print_config_tree
from src.utils.utils import extras, task_wrapper
